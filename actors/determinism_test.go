package actors

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// This file enforces the determinism rules of the actor contract (DESIGN.md,
// "Actor contract") by reading the source of every non-test, non-generated
// file under actors/. A role that breaks them can no longer be replayed from
// a seed in the simulator, so a failure here names the line and says what to
// use instead.

// The rules, as named in reports and in the fixtures' want comments.
const (
	ruleGoroutine  = "goroutine"
	ruleChannel    = "channel"
	ruleWallClock  = "wall-clock"
	ruleGlobalRand = "global-rand"
	ruleIO         = "io"
	ruleMapOrder   = "map-order"
)

var allRules = []string{ruleGoroutine, ruleChannel, ruleWallClock, ruleGlobalRand, ruleIO, ruleMapOrder}

// A violation is one broken rule at one place.
type violation struct {
	pos  token.Position
	rule string
	msg  string // what is wrong, then what to do instead
}

func (v violation) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", v.pos.Filename, v.pos.Line, v.rule, v.msg)
}

type ban struct{ rule, msg string }

// bannedImports are packages a role may not import at all.
var bannedImports = map[string]ban{
	"math/rand":   {ruleGlobalRand, "its functions share one global source; use env.Rand() (a math/rand/v2 *rand.Rand)"},
	"crypto/rand": {ruleGlobalRand, "it cannot be replayed from a seed; use env.Rand()"},
	"os":          {ruleIO, "I/O outside Env; keep durable state in env.Store() and log with env.Log()"},
	"os/exec":     {ruleIO, "a role runs no processes; send a message to whoever should act"},
	"net":         {ruleIO, "network I/O outside Env; use env.Send(to, msg)"},
	"net/http":    {ruleIO, "network I/O outside Env; use env.Send(to, msg)"},
	"syscall":     {ruleIO, "I/O outside Env; go through Env"},
	"io/ioutil":   {ruleIO, "file I/O outside Env; use env.Store()"},
	"log":         {ruleIO, "it writes to stderr outside Env; use env.Log()"},
	"unsafe":      {ruleIO, "pointer values differ between runs; use safe Go"},
	"sync":        {ruleIO, "a role handles one message at a time, so there is nothing to lock; remove it"},
	"runtime":     {ruleIO, "scheduler and host details differ between runs; remove it"},
}

// bannedImportTrees extends a ban to every package below it (os/signal,
// sync/atomic, runtime/debug, net/rpc, ...).
var bannedImportTrees = []string{"os", "net", "syscall", "sync", "runtime"}

// bannedFuncs are package-level functions a role may neither call nor
// reference, by package path and name.
var bannedFuncs = map[string]map[string]ban{
	"time": {
		"Now":       {ruleWallClock, "it reads the wall clock; use env.Now()"},
		"Since":     {ruleWallClock, "it reads the wall clock; use env.Now().Sub(t)"},
		"Until":     {ruleWallClock, "it reads the wall clock; use t.Sub(env.Now())"},
		"Sleep":     {ruleWallClock, "a handler never blocks; set a timer with env.After(d, msg) and continue when it fires"},
		"After":     {ruleWallClock, "it waits on the wall clock; use env.After(d, msg)"},
		"AfterFunc": {ruleWallClock, "it runs on the wall clock; use env.After(d, msg)"},
		"Tick":      {ruleWallClock, "it ticks on the wall clock; re-arm env.After(d, msg) each time it fires"},
		"NewTimer":  {ruleWallClock, "it runs on the wall clock; use env.After(d, msg) and env.Cancel(id)"},
		"NewTicker": {ruleWallClock, "it ticks on the wall clock; re-arm env.After(d, msg) each time it fires"},
	},
	"context": {
		"WithTimeout":       {ruleWallClock, "its deadline runs on the wall clock; use env.After(d, msg)"},
		"WithTimeoutCause":  {ruleWallClock, "its deadline runs on the wall clock; use env.After(d, msg)"},
		"WithDeadline":      {ruleWallClock, "its deadline runs on the wall clock; use env.After(d, msg)"},
		"WithDeadlineCause": {ruleWallClock, "its deadline runs on the wall clock; use env.After(d, msg)"},
		"AfterFunc":         {ruleGoroutine, "it starts a goroutine; handle the event in Handle"},
	},
	"fmt": {
		"Print":   {ruleIO, "it writes to stdout outside Env; use env.Log()"},
		"Printf":  {ruleIO, "it writes to stdout outside Env; use env.Log()"},
		"Println": {ruleIO, "it writes to stdout outside Env; use env.Log()"},
	},
	"log/slog": {
		"Default":      {ruleIO, "the default logger writes outside Env; use env.Log()"},
		"SetDefault":   {ruleIO, "the default logger writes outside Env; use env.Log()"},
		"Debug":        {ruleIO, "the default logger writes outside Env; use env.Log().Debug"},
		"DebugContext": {ruleIO, "the default logger writes outside Env; use env.Log().DebugContext"},
		"Info":         {ruleIO, "the default logger writes outside Env; use env.Log().Info"},
		"InfoContext":  {ruleIO, "the default logger writes outside Env; use env.Log().InfoContext"},
		"Warn":         {ruleIO, "the default logger writes outside Env; use env.Log().Warn"},
		"WarnContext":  {ruleIO, "the default logger writes outside Env; use env.Log().WarnContext"},
		"Error":        {ruleIO, "the default logger writes outside Env; use env.Log().Error"},
		"ErrorContext": {ruleIO, "the default logger writes outside Env; use env.Log().ErrorContext"},
		"Log":          {ruleIO, "the default logger writes outside Env; use env.Log().Log"},
		"LogAttrs":     {ruleIO, "the default logger writes outside Env; use env.Log().LogAttrs"},
	},
}

// seededRand lists the package-level functions of math/rand/v2 that draw
// nothing from the global source: constructors of seeded generators, and
// NewZipf, which draws from the *rand.Rand it is given. Every other
// package-level function of math/rand/v2 uses the global source.
var seededRand = map[string]bool{"New": true, "NewPCG": true, "NewChaCha8": true, "NewZipf": true}

// mapIterators are std functions whose iterators walk a map in its random
// order, so ranging over their result is ranging over the map.
var mapIterators = map[string]map[string]bool{"maps": {"All": true, "Keys": true, "Values": true}}

// orderIndependent is the annotation that allows a range over a map.
var orderIndependent = regexp.MustCompile(`order-independent:\s*\S`)

// checkDeterminism reports every violation of the rules in files, sorted by
// position. Files may come from several packages; each directory's package
// is type-checked on its own.
func checkDeterminism(fset *token.FileSet, files ...*ast.File) []violation {
	c := &checker{fset: fset, importer: &stubImporter{std: importer.Default()}}
	for _, pkg := range packagesOf(fset, files) {
		c.checkPackage(pkg)
	}
	slices.SortStableFunc(c.found, func(a, b violation) int {
		if a.pos.Filename != b.pos.Filename {
			return strings.Compare(a.pos.Filename, b.pos.Filename)
		}
		return a.pos.Offset - b.pos.Offset
	})
	return c.found
}

type checker struct {
	fset     *token.FileSet
	importer types.Importer
	found    []violation
}

func (c *checker) report(pos token.Pos, rule, format string, args ...any) {
	c.found = append(c.found, violation{c.fset.Position(pos), rule, fmt.Sprintf(format, args...)})
}

func (c *checker) checkPackage(files []*ast.File) {
	info := &types.Info{
		Types: map[ast.Expr]types.TypeAndValue{},
		Uses:  map[*ast.Ident]types.Object{},
		Defs:  map[*ast.Ident]types.Object{},
	}
	conf := types.Config{
		Importer: c.importer,
		// Packages outside std are empty stubs, so many expressions do not
		// type-check. The rules need only std functions and the maps the
		// package itself declares, and those still resolve.
		Error: func(error) {},
	}
	conf.Check(files[0].Name.Name, c.fset, files, info)

	for _, f := range files {
		c.checkImports(f)
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				c.report(n.Go, ruleGoroutine, "go statement: a role runs on its caller's goroutine; to act later, set a timer with env.After(d, msg)")
			case *ast.ChanType:
				c.report(n.Pos(), ruleChannel, "channel type: a role exchanges messages only through env.Send and env.After")
			case *ast.SendStmt:
				c.report(n.Arrow, ruleChannel, "channel send: use env.Send(to, msg)")
			case *ast.UnaryExpr:
				if n.Op == token.ARROW {
					c.report(n.OpPos, ruleChannel, "channel receive: a handler never waits; handle the message when Handle receives it")
				}
			case *ast.SelectStmt:
				c.report(n.Select, ruleChannel, "select: a handler never waits; handle each message or timer when Handle receives it")
			case *ast.RangeStmt:
				c.checkRange(f, info, n)
			case *ast.Ident:
				c.checkUse(info, n)
			}
			return true
		})
	}
}

func (c *checker) checkImports(f *ast.File) {
	for _, spec := range f.Imports {
		path := strings.Trim(spec.Path.Value, "`\"")
		b, ok := bannedImports[path]
		for _, tree := range bannedImportTrees {
			if !ok && strings.HasPrefix(path, tree+"/") {
				b, ok = bannedImports[tree]
			}
		}
		if ok {
			c.report(spec.Pos(), b.rule, "import %q: %s", path, b.msg)
		}
	}
}

// checkUse reports a use of a banned package-level function, whether
// called or only referenced (clock := time.Now).
func (c *checker) checkUse(info *types.Info, id *ast.Ident) {
	fn, ok := info.Uses[id].(*types.Func)
	if !ok || fn.Pkg() == nil || fn.Signature().Recv() != nil {
		return // not a package-level function: methods such as t.After(u) are fine
	}
	pkg, name := fn.Pkg(), fn.Name()
	if pkg.Path() == "math/rand/v2" && !seededRand[name] {
		instead := "env.Rand()." + name
		if name == "N" { // generic, so *rand.Rand has no N method
			instead = "env.Rand().Int64N"
		}
		c.report(id.Pos(), ruleGlobalRand, "%s.%s: it draws from the global, unseeded source; use %s", pkg.Name(), name, instead)
	}
	if b, ok := bannedFuncs[pkg.Path()][name]; ok {
		c.report(id.Pos(), b.rule, "%s.%s: %s", pkg.Name(), name, b.msg)
	}
}

func (c *checker) checkRange(f *ast.File, info *types.Info, rs *ast.RangeStmt) {
	var under types.Type
	if t := info.TypeOf(rs.X); t != nil {
		under = t.Underlying()
	}
	switch under.(type) {
	case *types.Chan:
		c.report(rs.For, ruleChannel, "range over channel %s: a handler never waits; handle each message when Handle receives it", types.ExprString(rs.X))
		return
	case *types.Map:
	default:
		if !c.isMapIterator(info, rs.X) {
			return
		}
	}
	if c.annotated(f, rs.For) {
		return
	}
	c.report(rs.For, ruleMapOrder, "range over %s: map order changes between runs; range over slices.Sorted(maps.Keys(m)), "+
		"or if the order cannot reach any output, say why in a comment on the line above: // order-independent: <reason>",
		types.ExprString(rs.X))
}

// isMapIterator reports whether x calls a function such as maps.Keys whose
// iterator walks a map in its random order.
func (c *checker) isMapIterator(info *types.Info, x ast.Expr) bool {
	call, ok := ast.Unparen(x).(*ast.CallExpr)
	if !ok {
		return false
	}
	var id *ast.Ident
	switch fun := ast.Unparen(call.Fun).(type) {
	case *ast.Ident:
		id = fun
	case *ast.SelectorExpr:
		id = fun.Sel
	default:
		return false
	}
	fn, ok := info.Uses[id].(*types.Func)
	return ok && fn.Pkg() != nil && mapIterators[fn.Pkg().Path()][fn.Name()]
}

// annotated reports whether the statement at pos carries an
// order-independent annotation with a reason, on its own line or in the
// comment block ending on the line above.
func (c *checker) annotated(f *ast.File, pos token.Pos) bool {
	line := c.fset.Position(pos).Line
	for _, g := range f.Comments {
		first, last := c.fset.Position(g.Pos()).Line, c.fset.Position(g.End()).Line
		if last != line-1 && (line < first || last < line) {
			continue
		}
		for _, comment := range g.List {
			if orderIndependent.MatchString(comment.Text) {
				return true
			}
		}
	}
	return false
}

// packagesOf groups files into packages: same directory, same package name.
func packagesOf(fset *token.FileSet, files []*ast.File) [][]*ast.File {
	type key struct{ dir, name string }
	var order []key
	byKey := map[key][]*ast.File{}
	for _, f := range files {
		k := key{filepath.Dir(fset.Position(f.Package).Filename), f.Name.Name}
		if byKey[k] == nil {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], f)
	}
	var pkgs [][]*ast.File
	for _, k := range order {
		pkgs = append(pkgs, byKey[k])
	}
	return pkgs
}

// stubImporter serves the standard library from the toolchain's export data
// and an empty package for every other path (pebble, protobuf, castkv/...),
// so type-checking needs no dependency built and never fails outright.
type stubImporter struct {
	std   types.Importer
	stubs map[string]*types.Package
}

func (imp *stubImporter) Import(path string) (*types.Package, error) {
	first, _, _ := strings.Cut(path, "/")
	if !strings.Contains(first, ".") && first != "castkv" {
		return imp.std.Import(path)
	}
	if imp.stubs == nil {
		imp.stubs = map[string]*types.Package{}
	}
	if pkg, ok := imp.stubs[path]; ok {
		return pkg, nil
	}
	pkg := types.NewPackage(path, guessPackageName(path))
	pkg.MarkComplete()
	imp.stubs[path] = pkg
	return pkg, nil
}

var majorVersion = regexp.MustCompile(`^v[0-9]+$`)

// guessPackageName guesses the name a path declares: pebble for
// github.com/cockroachdb/pebble/v2, redis for go-redis. A wrong guess only
// leaves more expressions untyped.
func guessPackageName(path string) string {
	elems := strings.Split(path, "/")
	name := elems[len(elems)-1]
	if len(elems) > 1 && majorVersion.MatchString(name) {
		name = elems[len(elems)-2]
	}
	name, _, _ = strings.Cut(name, ".")
	return name[strings.LastIndex(name, "-")+1:]
}

// parseGoFiles parses the Go files under root that the rules cover: not
// tests, not generated protobuf code, not under testdata or the directories
// go ignores. A file that does not parse is an error, checked as far as it
// parsed.
func parseGoFiles(t *testing.T, fset *token.FileSet, root string) []*ast.File {
	t.Helper()
	var files []*ast.File
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") || strings.HasSuffix(name, ".pb.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			t.Errorf("cannot fully check a file that does not parse: %v", err)
		}
		if f != nil {
			files = append(files, f)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	return files
}

func TestDeterminismRules(t *testing.T) {
	fset := token.NewFileSet()
	files := parseGoFiles(t, fset, ".")
	if len(files) == 0 {
		t.Fatal("found no Go files under actors/ to check")
	}
	for _, v := range checkDeterminism(fset, files...) {
		t.Error(v)
	}
}

// TestDeterminismRulesCatchViolations runs the checker over fixtures: bad/
// breaks every rule, each offending line naming the rules it breaks in a
// trailing "// want rule..." comment; good/ holds look-alikes that break
// none.
func TestDeterminismRulesCatchViolations(t *testing.T) {
	t.Run("bad", func(t *testing.T) {
		fset := token.NewFileSet()
		files := parseGoFiles(t, fset, "testdata/determinism/bad")
		want := wantedRules(t, fset, files)
		got := map[string][]string{}
		for _, v := range checkDeterminism(fset, files...) {
			at := fmt.Sprintf("%s:%d", v.pos.Filename, v.pos.Line)
			got[at] = append(got[at], v.rule)
		}

		covered := map[string]bool{}
		for _, rules := range want {
			for _, rule := range rules {
				covered[rule] = true
			}
		}
		for _, rule := range allRules {
			if !covered[rule] {
				t.Errorf("the fixtures break no %s rule; add a line that does", rule)
			}
		}
		places := slices.Concat(slices.Collect(maps.Keys(want)), slices.Collect(maps.Keys(got)))
		slices.Sort(places)
		for _, at := range slices.Compact(places) {
			slices.Sort(got[at])
			if !slices.Equal(got[at], want[at]) {
				t.Errorf("%s: checker reported %q, want %q", at, got[at], want[at])
			}
		}
	})

	t.Run("good", func(t *testing.T) {
		fset := token.NewFileSet()
		files := parseGoFiles(t, fset, "testdata/determinism/good")
		if len(files) == 0 {
			t.Fatal("found no fixtures in testdata/determinism/good")
		}
		for _, v := range checkDeterminism(fset, files...) {
			t.Errorf("false positive: %v", v)
		}
	})
}

var wantComment = regexp.MustCompile(`^// want (.+)$`)

// wantedRules reads the want comments of files, by "file:line", each list
// of rules sorted.
func wantedRules(t *testing.T, fset *token.FileSet, files []*ast.File) map[string][]string {
	t.Helper()
	want := map[string][]string{}
	for _, f := range files {
		for _, g := range f.Comments {
			for _, comment := range g.List {
				m := wantComment.FindStringSubmatch(comment.Text)
				if m == nil {
					continue
				}
				pos := fset.Position(comment.Slash)
				at := fmt.Sprintf("%s:%d", pos.Filename, pos.Line)
				for _, rule := range strings.Fields(m[1]) {
					if !slices.Contains(allRules, rule) {
						t.Errorf("%s: want names unknown rule %q (rules: %v)", at, rule, allRules)
					}
					want[at] = append(want[at], rule)
				}
				slices.Sort(want[at])
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("found no want comments in the fixtures")
	}
	return want
}
