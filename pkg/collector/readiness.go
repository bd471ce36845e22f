package collector

import (
	"context"
	"time"

	vigilv1 "github.com/vigil-dev/vigil/pkg/api/vigilv1"
	"github.com/vigil-dev/vigil/pkg/profile"
)

// notReady says why a stored version's evidence does not make it ready to
// enforce (see profile.NotReady).
func (ps *profiles) notReady(ctx context.Context, p *vigilv1.Profile, latest bool) ([]string, error) {
	_, why, err := ps.evidence(ctx, p, latest)
	return why, err
}

// evidence is a stored version's learning run and why it does not make the
// version ready to enforce. The latest version of a digest that learns is
// judged on its drafts as they are now: drafts that only add evidence (a
// container more, a quiet hour) make no version.
func (ps *profiles) evidence(ctx context.Context, p *vigilv1.Profile, latest bool) (profile.Learning, []string, error) {
	doc, err := decodeStored(p)
	if err != nil {
		return profile.Learning{}, nil, err
	}
	if latest && p.GetMode() == vigilv1.ProfileMode_PROFILE_MODE_LEARN {
		merged, _, _, err := ps.merge(ctx, p.GetImageDigest())
		if err != nil {
			return profile.Learning{}, nil, err
		}
		if merged != nil {
			doc.Metadata.Learning = merged.Metadata.Learning
		}
	}
	return doc.Metadata.Learning, doc.NotReady(time.Now(), ps.readiness), nil
}
