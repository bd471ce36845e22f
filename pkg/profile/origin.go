package profile

import "fmt"

// The origins of an executable, as YAML spells them: the image's own file,
// or a file written after the container started.
const (
	OriginImage   = "image"
	OriginWritten = "written"
)

// parseOrigin reads the YAML spelling of an executable's origin.
func parseOrigin(s string) (written bool, err error) {
	switch s {
	case OriginImage:
		return false, nil
	case OriginWritten:
		return true, nil
	}
	return false, fmt.Errorf("unknown origin %q (want %s or %s)", s, OriginImage, OriginWritten)
}

// An executable's origin as access bits of the executables' index: an
// entry of the image's file grants execImage, a written entry both, and an
// exec asks for the bit of its own origin.
const (
	execImage   Access = 1
	execWritten Access = 2
)

// execMask is what an entry grants.
func execMask(written bool) Access {
	if written {
		return execImage | execWritten
	}
	return execImage
}

// execNeed is what an exec asks for.
func execNeed(written bool) Access {
	if written {
		return execWritten
	}
	return execImage
}
