package vod

import (
	"html/template"
	"net/http"
)

var page = template.Must(template.New("vod").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>relaymesh recordings</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px system-ui,sans-serif;margin:2rem;max-width:60rem}td,th{padding:.3rem .8rem;text-align:left}video{max-width:100%;background:#000}</style>
</head><body>
<h1>Recordings</h1>
{{if not .}}<p>No recordings on this node yet.</p>{{else}}
<table><tr><th>stream</th><th>started (UTC)</th><th>length</th><th>codecs</th><th></th></tr>
{{range .}}<tr><td>{{.Stream}}</td><td>{{.Start.Format "2006-01-02 15:04:05"}}</td><td>{{printf "%.1f" .DurationS}} s{{if .Live}} (recording){{end}}</td>
<td>{{range .Codecs}}{{.}} {{end}}</td><td><a href="{{.URL}}">MP4</a> · <a href="{{.HLS}}">HLS</a></td></tr>
{{end}}</table>{{end}}
</body></html>
`))

func writePage(w http.ResponseWriter, recs []Recording) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page.Execute(w, recs)
}
