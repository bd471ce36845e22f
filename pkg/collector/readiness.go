package collector

import (
	"context"
	"time"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
)

// notReady says why a stored version's evidence does not make it ready to
// enforce (see profile.NotReady). The latest version of a digest that
// learns is judged on its drafts as they are now: drafts that only add
// evidence (a container more, a quiet hour) make no version.
func (ps *profiles) notReady(ctx context.Context, p *vigilv1.Profile, latest bool) ([]string, error) {
	doc, err := decodeStored(p)
	if err != nil {
		return nil, err
	}
	if latest && p.GetMode() == vigilv1.ProfileMode_PROFILE_MODE_LEARN {
		merged, _, _, err := ps.merge(ctx, p.GetImageDigest())
		if err != nil {
			return nil, err
		}
		doc.Metadata.Learning = merged.Metadata.Learning
	}
	return doc.NotReady(time.Now(), ps.readiness), nil
}
