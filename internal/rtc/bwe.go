package rtc

import (
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/webrtc/v4"
)

// The send-side bandwidth estimate of a viewer leg starts where browsers
// start theirs (300 kbit/s) and is bounded by what a layer needs.
const (
	bweStart = 300_000
	bweMin   = 30_000
	bweMax   = 20_000_000
)

// addBWE registers the transport-wide sequence number extension and
// pion's GCC (the delay- and loss-based controllers of
// draft-ietf-rmcat-gcc-02) without its pacer: a leg's packets go out as
// the hub gives them, and the estimate only chooses the layer.
func addBWE(m *webrtc.MediaEngine, ir *interceptor.Registry, onBWE func(cc.BandwidthEstimator)) error {
	f, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		return gcc.NewSendSideBWE(gcc.SendSideBWEInitialBitrate(bweStart), gcc.SendSideBWEMinBitrate(bweMin),
			gcc.SendSideBWEMaxBitrate(bweMax), gcc.SendSideBWEPacer(gcc.NewNoOpPacer()))
	})
	if err != nil {
		return err
	}
	f.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) { onBWE(e) })
	// Added first, the estimator sees each packet after the extension's
	// interceptor has numbered it (a chain's last interceptor is called
	// first): the other way round it never matched feedback to a packet.
	// The padder, before it, is called after it (padding.go).
	ir.Add(padderFactory{})
	ir.Add(f)
	return webrtc.ConfigureTWCCHeaderExtensionSender(m, ir)
}
