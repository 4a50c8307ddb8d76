package wire

// protoc comes from Debian's protobuf-compiler; protoc-gen-go is installed
// at the version go.mod names: go install google.golang.org/protobuf/cmd/protoc-gen-go
//go:generate protoc --go_out=. --go_opt=paths=source_relative wire.proto
