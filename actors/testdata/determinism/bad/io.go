package bad

import (
	"fmt"
	_ "io/ioutil" // want io
	"log"         // want io
	"log/slog"
	_ "net"      // want io
	_ "net/http" // want io
	"os"         // want io
	_ "os/exec"  // want io
	_ "runtime"  // want io
	_ "syscall"  // want io
	_ "unsafe"   // want io
)

func logs() {
	fmt.Println("hello")  // want io
	fmt.Printf("%d\n", 1) // want io
	slog.Info("hello")    // want io
	log.Print("hello")
	_ = os.Args
	_ = fmt.Sprintf("%d", 1) // formatting is not I/O: fine
}
