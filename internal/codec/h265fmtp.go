package codec

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// H265Fmtp names an H.265 stream, from its SPS, the way WebRTC peers offer
// it (RFC 7798 §7.1; draft-ietf-avtcore-hevc-webrtc §2.1): profile-id and
// tier-flag, which peers match exactly, level-id, which they do not, and
// tx-mode=SRST, the only mode WebRTC uses. Without a readable SPS it says
// Main profile, level 3.1, as browsers offer by default.
func H265Fmtp(sps []byte) string {
	profile, tier, level := uint8(1), uint8(0), uint8(93)
	var s h265.SPS
	if err := s.Unmarshal(sps); err == nil && s.ProfileTierLevel.GeneralProfileIdc != 0 {
		ptl := s.ProfileTierLevel
		profile, tier, level = ptl.GeneralProfileIdc, ptl.GeneralTierFlag, ptl.GeneralLevelIdc
	}
	return fmt.Sprintf("level-id=%d;profile-id=%d;tier-flag=%d;tx-mode=SRST", level, profile, tier)
}
