package node

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed web
var webFiles embed.FS

// webUI serves the page at / from files built into the binary: no build
// step, nothing to install.
func webUI() http.Handler {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embed directive guarantees the folder
	}
	return http.FileServerFS(sub)
}
