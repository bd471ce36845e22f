package sink

import "errors"

// ErrRejected marks a delivery the receiver refused for good (a 4xx answer
// other than 408 and 429): sending the alert again would be refused again.
var ErrRejected = errors.New("rejected by the receiver")
