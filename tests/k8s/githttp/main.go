// githttp serves the bare git repositories under a directory over git's smart HTTP protocol
// (`git http-backend` behind net/http/cgi), for Flux's source-controller in setpoint's Kubernetes test tier.
// It listens on a loopback address only: a non-loopback -addr is refused.
//
//	githttp -root DIR -addr 127.0.0.1:0 -addr-file FILE
//
// Repositories are served read-only (upload-pack); tests push to them through the file system.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

func main() {
	root := flag.String("root", "", "directory holding the bare repositories (served as /NAME.git)")
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on (port 0: pick a free port)")
	addrFile := flag.String("addr-file", "", "write the address actually listened on to this file")
	flag.Parse()
	if *root == "" {
		log.Fatal("githttp: -root is required")
	}
	absRoot, err := filepath.Abs(*root)
	if err != nil {
		log.Fatalf("githttp: %v", err)
	}
	if st, err := os.Stat(absRoot); err != nil || !st.IsDir() {
		log.Fatalf("githttp: -root %s is not a directory", absRoot)
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		log.Fatalf("githttp: -addr %q: %v", *addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		log.Fatalf("githttp: -addr %q is not a loopback IP address; refusing to listen on it", *addr)
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		log.Fatalf("githttp: git not found on PATH: %v", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("githttp: listen %s: %v", *addr, err)
	}
	backend := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Root: "/",
		Env: []string{
			"GIT_PROJECT_ROOT=" + absRoot,
			"GIT_HTTP_EXPORT_ALL=1",
			// the repositories are created by whoever runs the tier; do not trip over ownership checks
			"GIT_CONFIG_COUNT=1",
			"GIT_CONFIG_KEY_0=safe.directory",
			"GIT_CONFIG_VALUE_0=*",
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("/", logRequests(backend))
	if *addrFile != "" {
		tmp := *addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
			log.Fatalf("githttp: %v", err)
		}
		if err := os.Rename(tmp, *addrFile); err != nil {
			log.Fatalf("githttp: %v", err)
		}
	}
	log.Printf("githttp: serving %s on http://%s", absRoot, ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}

func logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		log.Printf("%s %s?%s (%s)", r.Method, r.URL.Path, r.URL.RawQuery, time.Since(start).Round(time.Millisecond))
	})
}
