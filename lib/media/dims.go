package media

import "encoding/binary"

// Dimensions returns the frame size a keyframe of codec c says: from the
// VP8 key frame header, the VP9 uncompressed header (profiles 0 to 3), the
// AV1 sequence header OBU (its maximum frame size) or the H.264 SPS (after
// cropping). ok is false when keyframe is not a keyframe of c or is too
// short or malformed to tell.
func Dimensions(c Codec, keyframe []byte) (width, height int, ok bool) {
	switch c {
	case VP8:
		return vp8Dimensions(keyframe)
	case VP9:
		return vp9Dimensions(keyframe)
	case AV1:
		return av1Dimensions(keyframe)
	case H264:
		return h264Dimensions(keyframe)
	}
	return 0, 0, false
}

// IsKeyframe says whether an encoded frame of codec c is one a decoder can
// start from: a VP8 or VP9 key frame, an AV1 temporal unit with a sequence
// header and a key frame, an H.264 access unit with an IDR slice. Every
// Opus packet is.
func IsKeyframe(c Codec, frame []byte) bool {
	switch c {
	case Opus:
		return true
	case H264:
		for nal := range nalUnits(frame) {
			if nal[0]&0x1f == nalIDR {
				return true
			}
		}
		return false
	case VP8:
		return len(frame) > 0 && frame[0]&1 == 0
	case VP9:
		return vp9IsKey(frame)
	case AV1:
		return av1IsKey(frame)
	}
	return false
}

// vp8Dimensions reads RFC 6386 §9.1: a 3-byte frame tag whose low bit is 0
// on key frames, the start code 9d 01 2a, then 14-bit width and height.
func vp8Dimensions(b []byte) (int, int, bool) {
	if len(b) < 10 || b[0]&1 != 0 || b[3] != 0x9d || b[4] != 0x01 || b[5] != 0x2a {
		return 0, 0, false
	}
	w := int(binary.LittleEndian.Uint16(b[6:]) & 0x3fff)
	h := int(binary.LittleEndian.Uint16(b[8:]) & 0x3fff)
	return w, h, w > 0 && h > 0
}

// bitReader reads big-endian bit fields; reading past the end sets short
// and yields zeros, so parsers check short once at the end.
type bitReader struct {
	b     []byte
	pos   int // in bits
	short bool
}

func (r *bitReader) u(n int) uint64 {
	var v uint64
	for range n {
		if r.pos >= 8*len(r.b) {
			r.short = true
			return 0
		}
		v = v<<1 | uint64(r.b[r.pos/8]>>(7-r.pos%8)&1)
		r.pos++
	}
	return v
}

func (r *bitReader) flag() bool { return r.u(1) == 1 }

// ue reads an Exp-Golomb code (H.264 §9.1); uvlc in AV1 is the same code.
func (r *bitReader) ue() uint64 {
	zeros := 0
	for !r.flag() {
		if r.short || zeros == 32 {
			r.short = true
			return 0
		}
		zeros++
	}
	return 1<<zeros - 1 + r.u(zeros)
}

func (r *bitReader) se() int64 {
	v := r.ue()
	if v&1 == 1 {
		return int64(v+1) / 2
	}
	return -int64(v / 2)
}

// vp9Header reads the start of a VP9 uncompressed header (VP9 bitstream
// spec §6.2) up to the frame size of a key frame.
func vp9Header(b []byte) (key bool, w, h int, ok bool) {
	r := &bitReader{b: b}
	if r.u(2) != 2 { // frame_marker
		return false, 0, 0, false
	}
	profile := r.u(1) | r.u(1)<<1
	if profile == 3 {
		r.u(1) // reserved_zero
	}
	if r.flag() { // show_existing_frame
		return false, 0, 0, !r.short
	}
	if r.u(1) != 0 { // frame_type: 0 is KEY_FRAME
		return false, 0, 0, !r.short
	}
	r.u(2) // show_frame, error_resilient_mode
	if r.u(24) != 0x498342 {
		return false, 0, 0, false
	}
	if profile >= 2 {
		r.u(1) // ten_or_twelve_bit
	}
	if r.u(3) != 7 { // color_space other than CS_RGB
		r.u(1) // color_range
		if profile == 1 || profile == 3 {
			r.u(3) // subsampling_x, subsampling_y, reserved_zero
		}
	} else if profile == 1 || profile == 3 {
		r.u(1) // reserved_zero
	}
	w = int(r.u(16)) + 1
	h = int(r.u(16)) + 1
	return true, w, h, !r.short
}

func vp9IsKey(b []byte) bool {
	key, _, _, ok := vp9Header(b)
	return key && ok
}

func vp9Dimensions(b []byte) (int, int, bool) {
	key, w, h, ok := vp9Header(b)
	return w, h, key && ok
}

// AV1 OBU types (AV1 spec §6.2.2).
const (
	obuSequenceHeader = 1
	obuFrameHeader    = 3
	obuFrame          = 6
)

// av1OBUs calls f with the type and payload of each OBU of a temporal unit
// in the low-overhead format (AV1 spec §5.2), until f returns false. It
// returns false if the data is malformed.
func av1OBUs(b []byte, f func(typ int, payload []byte) bool) bool {
	for len(b) > 0 {
		hdr := b[0]
		if hdr&0x80 != 0 { // forbidden bit
			return false
		}
		typ := int(hdr >> 3 & 0xf)
		n := 1
		if hdr&0x04 != 0 { // extension header
			n++
		}
		if len(b) < n {
			return false
		}
		size := len(b) - n
		if hdr&0x02 != 0 { // has_size_field
			v, m := leb128(b[n:])
			if m == 0 || v > uint64(len(b)-n-m) {
				return false
			}
			n += m
			size = int(v)
		}
		if !f(typ, b[n:n+size]) {
			return true
		}
		b = b[n+size:]
	}
	return true
}

// leb128 decodes an unsigned LEB128 value of at most 8 bytes; m is 0 if b
// holds none.
func leb128(b []byte) (v uint64, m int) {
	for i := 0; i < 8 && i < len(b); i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}

type av1Sequence struct {
	reducedStillPicture bool
	width, height       int
}

// av1SequenceHeader reads sequence_header_obu (AV1 spec §5.5) up to the
// maximum frame size.
func av1SequenceHeader(b []byte) (av1Sequence, bool) {
	r := &bitReader{b: b}
	var s av1Sequence
	r.u(3) // seq_profile
	r.u(1) // still_picture
	s.reducedStillPicture = r.flag()
	if s.reducedStillPicture {
		r.u(5) // seq_level_idx[0]
	} else {
		decoderModel := false
		bufferDelayLen := 0
		if r.flag() { // timing_info_present_flag
			r.u(32) // num_units_in_display_tick
			r.u(32) // time_scale
			if r.flag() {
				r.ue() // num_ticks_per_picture_minus_1
			}
			decoderModel = r.flag()
			if decoderModel {
				bufferDelayLen = int(r.u(5)) + 1
				r.u(32) // num_units_in_decoding_tick
				r.u(10) // buffer_removal_time_length_minus_1, frame_presentation_time_length_minus_1
			}
		}
		initialDisplayDelay := r.flag()
		points := int(r.u(5)) + 1
		for range points {
			r.u(12) // operating_point_idc
			if r.u(5) > 7 {
				r.u(1) // seq_tier
			}
			if decoderModel && r.flag() {
				r.u(2*bufferDelayLen + 1) // decoder and encoder buffer delay, low_delay_mode_flag
			}
			if initialDisplayDelay && r.flag() {
				r.u(4)
			}
		}
	}
	wbits := int(r.u(4)) + 1
	hbits := int(r.u(4)) + 1
	s.width = int(r.u(wbits)) + 1
	s.height = int(r.u(hbits)) + 1
	return s, !r.short
}

func av1Dimensions(b []byte) (w, h int, ok bool) {
	av1OBUs(b, func(typ int, p []byte) bool {
		if typ != obuSequenceHeader {
			return true
		}
		s, good := av1SequenceHeader(p)
		w, h, ok = s.width, s.height, good
		return false
	})
	return w, h, ok
}

// av1IsKey says whether a temporal unit carries a sequence header and a
// key frame: the first frame header has show_existing_frame 0 and
// frame_type KEY_FRAME (or the sequence is a reduced still picture).
func av1IsKey(b []byte) bool {
	var seq *av1Sequence
	key := false
	av1OBUs(b, func(typ int, p []byte) bool {
		switch typ {
		case obuSequenceHeader:
			if s, ok := av1SequenceHeader(p); ok {
				seq = &s
			}
		case obuFrameHeader, obuFrame:
			if seq != nil {
				r := &bitReader{b: p}
				key = seq.reducedStillPicture || (!r.flag() && r.u(2) == 0 && !r.short)
			}
			return false
		}
		return true
	})
	return key
}

// h264Dimensions finds the first SPS in an Annex-B access unit (or a lone
// SPS NAL unit without a start code) and reads its frame size.
func h264Dimensions(b []byte) (int, int, bool) {
	if startCodeAt(b) == 0 {
		return spsDimensions(b)
	}
	for nal := range nalUnits(b) {
		if len(nal) > 0 && nal[0]&0x1f == nalSPS {
			return spsDimensions(nal)
		}
	}
	return 0, 0, false
}

// spsDimensions reads seq_parameter_set_data (H.264 §7.3.2.1.1) from an
// SPS NAL unit, header byte included.
func spsDimensions(nal []byte) (int, int, bool) {
	if len(nal) < 4 || nal[0]&0x1f != nalSPS {
		return 0, 0, false
	}
	r := &bitReader{b: unescapeRBSP(nal[1:])}
	profile := r.u(8)
	r.u(16) // constraint flags, level_idc
	r.ue()  // seq_parameter_set_id
	chromaFormat := uint64(1)
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		chromaFormat = r.ue()
		if chromaFormat == 3 {
			r.u(1) // separate_colour_plane_flag
		}
		r.ue()        // bit_depth_luma_minus8
		r.ue()        // bit_depth_chroma_minus8
		r.u(1)        // qpprime_y_zero_transform_bypass_flag
		if r.flag() { // seq_scaling_matrix_present_flag
			lists := 8
			if chromaFormat == 3 {
				lists = 12
			}
			for i := range lists {
				if r.flag() {
					size := 64
					if i < 6 {
						size = 16
					}
					skipScalingList(r, size)
				}
			}
		}
	}
	r.ue()          // log2_max_frame_num_minus4
	switch r.ue() { // pic_order_cnt_type
	case 0:
		r.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.u(1)
		r.se()
		r.se()
		n := r.ue()
		if n > 255 {
			return 0, 0, false
		}
		for range n {
			r.se()
		}
	}
	r.ue() // max_num_ref_frames
	r.u(1) // gaps_in_frame_num_value_allowed_flag
	mbWidth := r.ue() + 1
	mapHeight := r.ue() + 1
	frameMBsOnly := r.u(1)
	if frameMBsOnly == 0 {
		r.u(1) // mb_adaptive_frame_field_flag
	}
	r.u(1) // direct_8x8_inference_flag
	var cropL, cropR, cropT, cropB uint64
	if r.flag() {
		cropL, cropR, cropT, cropB = r.ue(), r.ue(), r.ue(), r.ue()
	}
	if r.short || mbWidth > 1<<16 || mapHeight > 1<<16 {
		return 0, 0, false
	}
	// Crop units (§7.4.2.1.1, table 6-1).
	cropX, cropY := uint64(1), 2-frameMBsOnly
	switch chromaFormat {
	case 1:
		cropX, cropY = 2, 2*(2-frameMBsOnly)
	case 2:
		cropX, cropY = 2, 2-frameMBsOnly
	}
	w := int64(mbWidth*16) - int64(cropX*(cropL+cropR))
	h := int64((2-frameMBsOnly)*mapHeight*16) - int64(cropY*(cropT+cropB))
	if w <= 0 || h <= 0 {
		return 0, 0, false
	}
	return int(w), int(h), true
}

func skipScalingList(r *bitReader, size int) {
	last, next := int64(8), int64(8)
	for range size {
		if next != 0 {
			next = (last + r.se() + 256) % 256
		}
		if next != 0 {
			last = next
		}
	}
}

// unescapeRBSP removes emulation prevention bytes (00 00 03 → 00 00).
func unescapeRBSP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}
