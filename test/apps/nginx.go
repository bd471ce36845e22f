package apps

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vigil-dev/vigil/test/appimage"
	"github.com/vigil-dev/vigil/test/containerd/ctrd"
)

const nginxAddr = "127.0.0.1:80"

// nginxSite replaces Debian's default site: a static site under /srv/www
// with its own 404 page. The rest is Debian's nginx.conf (workers as
// www-data, logs under /var/log/nginx, gzip on).
const nginxSite = `server {
	listen 80 default_server;
	root /srv/www;
	index index.html;
	error_page 404 /404.html;
	location / {
		try_files $uri $uri/ =404;
	}
	location /static/ {
		expires 1h;
	}
}
`

// nginxPages is how many documentation pages the site ships; mix A reads
// the first half, mix B the second.
const nginxPages = 40

// Nginx is Debian's nginx-light serving a static site.
func Nginx() App {
	return App{
		Name: "nginx",
		Recipe: appimage.Recipe{
			Name:     "vigil.test/apps/nginx:1",
			Packages: []string{"nginx-light"},
			Files:    append(nginxSiteFiles(), ctrd.File{Path: "dev", Mode: 0o755, Dir: true}),
			Config: ocispec.ImageConfig{
				Env:        []string{debianPath},
				Entrypoint: []string{"/usr/sbin/nginx", "-g", "daemon off;"},
			},
		},
		Ready: httpReady(nginxAddr, "/"),
		MixA:  nginxMixA,
		MixB:  nginxMixB,
	}
}

// debianPath is the PATH of Debian's root user.
const debianPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func nginxSiteFiles() []ctrd.File {
	page := func(title, body string) []byte {
		return fmt.Appendf(nil, "<!doctype html>\n<html><head><title>%s</title><link rel=stylesheet href=/static/site.css></head>\n<body><h1>%s</h1>\n%s\n<script src=/static/app.js></script></body></html>\n", title, title, body)
	}
	files := []ctrd.File{
		{Path: "etc/nginx/sites-available/default", Mode: 0o644, Data: []byte(nginxSite)},
		{Path: "srv/www/index.html", Mode: 0o644, Data: page("Home", "<p>Welcome.</p>")},
		{Path: "srv/www/404.html", Mode: 0o644, Data: page("Not found", "<p>No such page.</p>")},
		{Path: "srv/www/robots.txt", Mode: 0o644, Data: []byte("User-agent: *\nDisallow: /static/\n")},
		{Path: "srv/www/favicon.ico", Mode: 0o644, Data: []byte("\x00\x00\x01\x00\x00\x00")},
		{Path: "srv/www/static/site.css", Mode: 0o644, Data: []byte(strings.Repeat("body { font-family: sans-serif; margin: 2em; }\n", 200))},
		{Path: "srv/www/static/app.js", Mode: 0o644, Data: []byte(strings.Repeat("document.title = document.title.trim();\n", 200))},
		{Path: "srv/www/img/logo.svg", Mode: 0o644, Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>` + "\n")},
	}
	for i := 1; i <= nginxPages; i++ {
		files = append(files, ctrd.File{
			Path: fmt.Sprintf("srv/www/docs/page-%02d.html", i), Mode: 0o644,
			Data: page(fmt.Sprintf("Page %d", i), strings.Repeat(fmt.Sprintf("<p>Paragraph of page %d.</p>\n", i), 50)),
		})
	}
	return files
}

// nginxMixA: the home page, the first half of the docs, the stylesheet, a
// conditional request and a missing page.
func nginxMixA(ctx context.Context, dial Dialer, round int) []Outcome {
	reqs := []request{
		{method: http.MethodGet, path: "/", want: http.StatusOK},
		{method: http.MethodHead, path: "/", want: http.StatusOK},
		{method: http.MethodGet, path: "/static/site.css", want: http.StatusOK},
		// nginx answers 304 to exactly the file's time: the layer's epoch.
		{method: http.MethodGet, path: "/docs/page-03.html", want: http.StatusNotModified,
			header: map[string]string{"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}},
		{method: http.MethodGet, path: fmt.Sprintf("/missing-%d", round), want: http.StatusNotFound},
	}
	for i := 1; i <= nginxPages/2; i++ {
		reqs = append(reqs, request{method: http.MethodGet, path: fmt.Sprintf("/docs/page-%02d.html", i), want: http.StatusOK})
	}
	return nginxSend(ctx, dial, reqs)
}

// nginxMixB: the second half of the docs, the script, the logo, robots.txt,
// the favicon, gzip, a query string and other missing pages.
func nginxMixB(ctx context.Context, dial Dialer, round int) []Outcome {
	reqs := []request{
		{method: http.MethodGet, path: "/static/app.js", want: http.StatusOK},
		{method: http.MethodGet, path: "/img/logo.svg", want: http.StatusOK},
		{method: http.MethodGet, path: "/robots.txt", want: http.StatusOK},
		{method: http.MethodGet, path: "/favicon.ico", want: http.StatusOK},
		{method: http.MethodGet, path: "/static/site.css", want: http.StatusOK, header: map[string]string{"Accept-Encoding": "gzip"}},
		{method: http.MethodGet, path: fmt.Sprintf("/docs/page-25.html?ref=%d", round), want: http.StatusOK},
		{method: http.MethodHead, path: "/docs/page-30.html", want: http.StatusOK},
		{method: http.MethodGet, path: fmt.Sprintf("/old/blog/post-%d", round), want: http.StatusNotFound},
	}
	for i := nginxPages/2 + 1; i <= nginxPages; i++ {
		reqs = append(reqs, request{method: http.MethodGet, path: fmt.Sprintf("/docs/page-%02d.html", i), want: http.StatusOK})
	}
	return nginxSend(ctx, dial, reqs)
}

func nginxSend(ctx context.Context, dial Dialer, reqs []request) []Outcome {
	s := newHTTPSession(dial, nginxAddr)
	defer s.close()
	return s.all(ctx, reqs)
}
