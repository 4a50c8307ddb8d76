package sim

import (
	"errors"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// memFS is the in-memory filesystem a simulated machine's pebble runs on.
// Like pebble's vfs.NewCrashableMem it keeps what each file and directory
// held at its last sync, and crash returns what a power loss leaves: the
// directory entries of each directory's last sync, each file's synced
// bytes. Unlike it, a Sync copies nothing. vfs.MemFS copies the whole file
// on every Sync, the WAL included (about 600 KiB per sync in a run with
// large values, GBs per run, a third of the simulator's time), and holds
// every file twice.
//
// Here a file's synced bytes are a prefix of its data and share its array:
// pebble appends to its files, and an append never touches bytes another
// slice of the array can see. A write over existing bytes first copies the
// file if its array is shared.
type memFS struct {
	mu    sync.Mutex // guards every node and the tree
	root  *memNode
	locks map[string]bool
}

type memNode struct {
	isDir bool

	// Files. shared: another slice (synced, or a crash clone) may see
	// data's array, so bytes below len(data) must not change in place.
	data, synced []byte
	shared       bool

	// Directories.
	children, syncedChildren map[string]*memNode
}

var _ vfs.FS = (*memFS)(nil)

func newMemFS() *memFS {
	return &memFS{root: newDir(), locks: map[string]bool{}}
}

func newDir() *memNode {
	return &memNode{isDir: true, children: map[string]*memNode{}, syncedChildren: map[string]*memNode{}}
}

// crash returns the filesystem a power loss leaves now. It shares file
// arrays with fs, which stays usable (pebble may still write as it closes)
// without changing what crash returned.
func (fs *memFS) crash() *memFS {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return &memFS{root: fs.root.crashClone(), locks: map[string]bool{}}
}

func (n *memNode) crashClone() *memNode {
	if n.isDir {
		c := newDir()
		for name, child := range n.syncedChildren {
			c.children[name] = child.crashClone()
		}
		c.syncedChildren = maps.Clone(c.children)
		return c
	}
	n.shared = true
	d := n.synced[:len(n.synced):len(n.synced)]
	return &memNode{data: d, synced: d, shared: true}
}

func pathError(op, name string, err error) error {
	return &os.PathError{Op: op, Path: name, Err: err}
}

// lookup splits name into its directory node and last element; the
// caller holds fs.mu.
func (fs *memFS) lookup(op, name string) (dir *memNode, base string, err error) {
	dir = fs.root
	parts := strings.FieldsFunc(name, func(r rune) bool { return r == '/' })
	parts = slices.DeleteFunc(parts, func(s string) bool { return s == "." })
	if len(parts) == 0 {
		return nil, "", nil // the root itself
	}
	for _, p := range parts[:len(parts)-1] {
		next := dir.children[p]
		if next == nil {
			return nil, "", pathError(op, name, os.ErrNotExist)
		}
		if !next.isDir {
			return nil, "", pathError(op, name, syscall.ENOTDIR)
		}
		dir = next
	}
	return dir, parts[len(parts)-1], nil
}

// node finds name's node; the caller holds fs.mu.
func (fs *memFS) node(op, name string) (*memNode, error) {
	dir, base, err := fs.lookup(op, name)
	if err != nil {
		return nil, err
	}
	if dir == nil {
		return fs.root, nil
	}
	n := dir.children[base]
	if n == nil {
		return nil, pathError(op, name, os.ErrNotExist)
	}
	return n, nil
}

func (fs *memFS) Create(name string, _ vfs.DiskWriteCategory) (vfs.File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.create(name)
}

func (fs *memFS) create(name string) (vfs.File, error) {
	dir, base, err := fs.lookup("create", name)
	if err != nil {
		return nil, err
	}
	if dir == nil {
		return nil, pathError("create", name, syscall.EISDIR)
	}
	n := &memNode{}
	dir.children[base] = n
	return &memFile{fs: fs, n: n, name: base, read: true, write: true}, nil
}

func (fs *memFS) Link(oldname, newname string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.node("link", oldname)
	if err != nil {
		return err
	}
	dir, base, err := fs.lookup("link", newname)
	if err != nil {
		return err
	}
	if dir == nil || dir.children[base] != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: os.ErrExist}
	}
	dir.children[base] = n
	return nil
}

func (fs *memFS) open(name string, write bool) (vfs.File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.node("open", name)
	if err != nil {
		return nil, err
	}
	return &memFile{fs: fs, n: n, name: path.Base(name), read: true, write: write && !n.isDir}, nil
}

func (fs *memFS) Open(name string, _ ...vfs.OpenOption) (vfs.File, error) {
	return fs.open(name, false)
}

func (fs *memFS) OpenReadWrite(name string, _ vfs.DiskWriteCategory, _ ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.open(name, true)
	if errors.Is(err, os.ErrNotExist) {
		return fs.Create(name, vfs.WriteCategoryUnspecified)
	}
	return f, err
}

func (fs *memFS) OpenDir(name string) (vfs.File, error) {
	f, err := fs.open(name, false)
	if err == nil && !f.(*memFile).n.isDir {
		return nil, pathError("open", name, syscall.ENOTDIR)
	}
	return f, err
}

func (fs *memFS) Remove(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, base, err := fs.lookup("remove", name)
	if err != nil {
		return err
	}
	if dir == nil {
		return pathError("remove", name, syscall.EBUSY)
	}
	n := dir.children[base]
	if n == nil {
		return pathError("remove", name, os.ErrNotExist)
	}
	if n.isDir && len(n.children) > 0 {
		return pathError("remove", name, syscall.ENOTEMPTY)
	}
	delete(dir.children, base)
	return nil
}

func (fs *memFS) RemoveAll(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, base, err := fs.lookup("remove", name)
	if errors.Is(err, os.ErrNotExist) {
		return nil // as os.RemoveAll
	}
	if err != nil {
		return err
	}
	if dir == nil {
		return pathError("remove", name, syscall.EBUSY)
	}
	delete(dir.children, base)
	return nil
}

func (fs *memFS) Rename(oldname, newname string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.rename(oldname, newname)
}

func (fs *memFS) rename(oldname, newname string) error {
	from, oldBase, err := fs.lookup("rename", oldname)
	if err != nil {
		return err
	}
	to, newBase, err := fs.lookup("rename", newname)
	if err != nil {
		return err
	}
	if from == nil || to == nil {
		return pathError("rename", oldname, syscall.EBUSY)
	}
	n := from.children[oldBase]
	if n == nil {
		return pathError("rename", oldname, os.ErrNotExist)
	}
	delete(from.children, oldBase)
	to.children[newBase] = n
	return nil
}

func (fs *memFS) ReuseForWrite(oldname, newname string, _ vfs.DiskWriteCategory) (vfs.File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err := fs.rename(oldname, newname); err != nil {
		return nil, err
	}
	n, err := fs.node("open", newname)
	if err != nil {
		return nil, err
	}
	// The recycled file starts empty, as a new one would: were its old
	// bytes kept, every write after a sync would land below the synced
	// length and copy the file. Pebble reads either the same way (a log
	// record names its log), and its synced bytes stay until the next sync.
	n.data, n.shared = nil, false
	return &memFile{fs: fs, n: n, name: path.Base(newname), write: true}, nil
}

func (fs *memFS) MkdirAll(name string, _ os.FileMode) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir := fs.root
	for _, p := range strings.FieldsFunc(name, func(r rune) bool { return r == '/' }) {
		if p == "." {
			continue
		}
		next := dir.children[p]
		if next == nil {
			next = newDir()
			dir.children[p] = next
		}
		if !next.isDir {
			return pathError("mkdir", name, syscall.ENOTDIR)
		}
		dir = next
	}
	return nil
}

func (fs *memFS) Lock(name string) (io.Closer, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.locks[name] {
		return nil, syscall.EAGAIN
	}
	f, err := fs.create(name)
	if err != nil {
		return nil, err
	}
	fs.locks[name] = true
	return memLock{fs: fs, f: f, name: name}, nil
}

type memLock struct {
	fs   *memFS
	f    vfs.File
	name string
}

func (l memLock) Close() error {
	l.fs.mu.Lock()
	delete(l.fs.locks, l.name)
	l.fs.mu.Unlock()
	return l.f.Close()
}

// List returns dir's entries sorted, so nothing pebble does with them
// depends on map order.
func (fs *memFS) List(dir string) ([]string, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.node("open", dir)
	if err != nil {
		return nil, err
	}
	if !n.isDir {
		return nil, pathError("open", dir, syscall.ENOTDIR)
	}
	return slices.Sorted(maps.Keys(n.children)), nil
}

func (fs *memFS) Stat(name string) (vfs.FileInfo, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.node("stat", name)
	if err != nil {
		return nil, err
	}
	return n.info(path.Base(name)), nil
}

func (fs *memFS) PathBase(p string) string       { return path.Base(p) }
func (fs *memFS) PathJoin(elem ...string) string { return path.Join(elem...) }
func (fs *memFS) PathDir(p string) string        { return path.Dir(p) }
func (fs *memFS) Unwrap() vfs.FS                 { return nil }
func (fs *memFS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	return vfs.DiskUsage{}, vfs.ErrUnsupported
}

// memFile is an open file or directory of a memFS.
type memFile struct {
	fs          *memFS
	n           *memNode
	name        string
	pos         int
	read, write bool
}

var _ vfs.File = (*memFile)(nil)

func (f *memFile) Close() error { return nil }

func (f *memFile) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, int64(f.pos))
	f.pos += n
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if !f.read || f.n.isDir {
		return 0, pathError("read", f.name, syscall.EBADF)
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	n, err := f.WriteAt(p, int64(f.pos))
	f.pos += n
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if !f.write || f.n.isDir {
		return 0, pathError("write", f.name, syscall.EBADF)
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	n := f.n
	pos := int(off)
	if n.shared && pos < len(n.synced) {
		// An overwrite of bytes others may see: leave them the array.
		// (They see at most len(synced) bytes: clones are cut from synced
		// slices, and data, hence synced, only grows.)
		n.data, n.shared = slices.Clone(n.data), false
	}
	if end := pos + len(p); end > len(n.data) {
		if pos > len(n.data) {
			n.data = append(n.data, make([]byte, pos-len(n.data))...)
		}
		n.data = append(n.data[:pos], p...)
	} else {
		copy(n.data[pos:], p)
	}
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	n := f.n
	if n.isDir {
		n.syncedChildren = maps.Clone(n.children)
		return nil
	}
	n.synced, n.shared = n.data[:len(n.data):len(n.data)], true
	return nil
}

func (f *memFile) SyncData() error { return f.Sync() }

// SyncTo promises nothing (fullSync false), like vfs.MemFS, so pebble
// never counts on a partial sync for durability.
func (f *memFile) SyncTo(int64) (bool, error) { return false, nil }

func (f *memFile) Stat() (vfs.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return f.n.info(f.name), nil
}

func (f *memFile) Preallocate(int64, int64) error { return nil }
func (f *memFile) Prefetch(int64, int64) error    { return nil }
func (f *memFile) Fd() uintptr                    { return vfs.InvalidFd }

// Flush keeps pebble from buffering writes above the file, as vfs.MemFS's
// does.
func (f *memFile) Flush() error { return nil }

// info describes n; the caller holds fs.mu.
func (n *memNode) info(name string) vfs.FileInfo {
	return memInfo{name: name, size: int64(len(n.data)), isDir: n.isDir}
}

type memInfo struct {
	name  string
	size  int64
	isDir bool
}

func (i memInfo) Name() string           { return i.name }
func (i memInfo) Size() int64            { return i.size }
func (i memInfo) ModTime() time.Time     { return epoch }
func (i memInfo) IsDir() bool            { return i.isDir }
func (i memInfo) Sys() any               { return nil }
func (i memInfo) DeviceID() vfs.DeviceID { return vfs.DeviceID{} }
func (i memInfo) Mode() os.FileMode {
	if i.isDir {
		return os.ModeDir | 0o755
	}
	return 0o644
}
