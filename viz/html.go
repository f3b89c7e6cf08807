package viz

import (
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"

	"cyclepix/options"
)

// Page is a simple HTML page of headers, image rows and plots (the
// reference's util/html.py), written atomically.
type Page struct {
	Dir     string // the page's folder; images live in Dir/images
	Title   string
	Refresh int // seconds; 0 for none
	body    strings.Builder
}

// NewPage makes a page in dir and creates dir/images.
func NewPage(dir, title string, refresh int) (*Page, error) {
	if err := os.MkdirAll(filepath.Join(dir, "images"), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	return &Page{Dir: dir, Title: title, Refresh: refresh}, nil
}

// ImageDir is where the page's images go.
func (p *Page) ImageDir() string { return filepath.Join(p.Dir, "images") }

// Header adds a section header.
func (p *Page) Header(text string) { fmt.Fprintf(&p.body, "<h3>%s</h3>\n", html.EscapeString(text)) }

// Raw adds trusted HTML (a plot).
func (p *Page) Raw(s string) { p.body.WriteString(s) }

// Images adds a row of images (paths relative to images/) with captions.
func (p *Page) Images(files, captions []string, width int) {
	p.body.WriteString("<table><tr>\n")
	for i, f := range files {
		src := "images/" + html.EscapeString(f)
		fmt.Fprintf(&p.body, `<td style="word-wrap:break-word;text-align:center"><a href="%s"><img style="width:%dpx" src="%s"></a><br><p>%s</p></td>`+"\n",
			src, width, src, html.EscapeString(captions[i]))
	}
	p.body.WriteString("</tr></table>\n")
}

// Save writes index.html atomically.
func (p *Page) Save() error {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">")
	if p.Refresh > 0 {
		fmt.Fprintf(&b, `<meta http-equiv="refresh" content="%d">`, p.Refresh)
	}
	fmt.Fprintf(&b, "<title>%s</title><style>body{font-family:sans-serif}table{border-collapse:collapse}td{padding:4px}</style></head>\n<body>\n<h1>%s</h1>\n",
		html.EscapeString(p.Title), html.EscapeString(p.Title))
	b.WriteString(p.body.String())
	b.WriteString("</body></html>\n")
	return options.WriteFileAtomic(filepath.Join(p.Dir, "index.html"), []byte(b.String()))
}
