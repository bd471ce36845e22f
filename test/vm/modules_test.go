package vm

import (
	"slices"
	"strings"
	"testing"
)

const modulesDep = `kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko
kernel/net/9p/9pnet.ko:
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/fs/netfs/netfs.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/some-thing.ko.xz: kernel/drivers/virtio/virtio.ko
kernel/a.ko: kernel/b.ko
kernel/b.ko: kernel/a.ko
`

func TestModuleLoadOrder(t *testing.T) {
	md, err := parseModulesDep(strings.NewReader(modulesDep))
	if err != nil {
		t.Fatal(err)
	}
	order, err := md.loadOrder([]string{"9pnet_virtio", "9p", "some-thing"}, map[string]bool{"virtio_ring": true})
	if err != nil {
		t.Fatal(err)
	}
	// Each once, after its dependencies; built-in virtio_ring not at all.
	want := []string{"9pnet", "virtio", "9pnet_virtio", "netfs", "fscache", "9p", "some_thing"}
	if !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	if got := md.path["some_thing"]; got != "kernel/drivers/some-thing.ko.xz" {
		t.Errorf("path of some_thing: %q", got)
	}

	if _, err := md.loadOrder([]string{"a"}, nil); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: got %v", err)
	}
	if _, err := md.loadOrder([]string{"nosuch"}, nil); err == nil || !strings.Contains(err.Error(), "not built") {
		t.Errorf("unknown module: got %v", err)
	}
}

func TestParseModulesDepRejectsGarbage(t *testing.T) {
	if _, err := parseModulesDep(strings.NewReader("kernel/x.ko: \nnot a dep line\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("got %v, want an error naming line 2", err)
	}
}
