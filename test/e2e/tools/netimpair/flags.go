package main

import (
	"flag"
	"fmt"
	"strconv"
	"time"
)

// directions are the two ways through the lab's router: ab carries what A
// sends toward B, ba what B sends toward A.
var directions = []string{"ab", "ba"}

// defaultParams is a clean link: what a direction has before any flag.
var defaultParams = Params{ReorderBy: 10 * time.Millisecond, Limit: 1000}

// impairFlag is one impairment setting: its flag name, what it means, and
// how it sets Params from the flag's value.
type impairFlag struct {
	name, usage string
	set         func(p *Params, value string) error
}

var impairFlags = []impairFlag{
	{"delay", "delay every packet by `DURATION`", durationSetter(func(p *Params) *time.Duration { return &p.Delay })},
	{"jitter", "vary each packet's delay by up to ± `DURATION`, keeping the order", durationSetter(func(p *Params) *time.Duration { return &p.Jitter })},
	{"loss", "drop `PERCENT` of the packets", percentSetter(func(p *Params) *float64 { return &p.Loss })},
	{"reorder", "hold back `PERCENT` of the packets by --reorder-by, so later ones pass them", percentSetter(func(p *Params) *float64 { return &p.Reorder })},
	{"reorder-by", "how much longer a reordered packet is held (`DURATION`, default 10ms)", durationSetter(func(p *Params) *time.Duration { return &p.ReorderBy })},
	{"duplicate", "send `PERCENT` of the packets twice", percentSetter(func(p *Params) *float64 { return &p.Duplicate })},
	{"limit", "hold at most `PACKETS` at once, dropping more (default 1000)", func(p *Params, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("want a number of packets above 0, not %q", v)
		}
		p.Limit = n
		return nil
	}},
}

func durationSetter(field func(*Params) *time.Duration) func(*Params, string) error {
	return func(p *Params, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("want a duration such as 50ms, not %q", v)
		}
		*field(p) = d
		return nil
	}
}

func percentSetter(field func(*Params) *float64) func(*Params, string) error {
	return func(p *Params, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 100 {
			return fmt.Errorf("want a percentage from 0 to 100, not %q", v)
		}
		*field(p) = f
		return nil
	}
}

// impairSettings collects impairment flags as they are parsed: each flag
// as given for both directions (--loss 5) and for one (--ab-loss 5).
type impairSettings struct {
	both, perDirection []setting
}

type setting struct {
	direction string // "" for both
	flag      impairFlag
	value     string
}

// register defines every impairment flag, plain and with each direction's
// prefix, on fs.
func (s *impairSettings) register(fs *flag.FlagSet) {
	for _, f := range impairFlags {
		fs.Func(f.name, f.usage, s.record("", f))
		for _, dir := range directions {
			fs.Func(dir+"-"+f.name, f.usage+", "+dir+" only", s.record(dir, f))
		}
	}
}

func (s *impairSettings) record(dir string, f impairFlag) func(string) error {
	return func(v string) error {
		if err := f.set(&Params{}, v); err != nil {
			return err
		}
		st := setting{direction: dir, flag: f, value: v}
		if dir == "" {
			s.both = append(s.both, st)
		} else {
			s.perDirection = append(s.perDirection, st)
		}
		return nil
	}
}

// apply returns p with the settings for direction dir applied, those for
// that direction alone winning over those for both.
func (s *impairSettings) apply(dir string, p Params) Params {
	for _, st := range s.both {
		_ = st.flag.set(&p, st.value) // checked when recorded
	}
	for _, st := range s.perDirection {
		if st.direction == dir {
			_ = st.flag.set(&p, st.value)
		}
	}
	return p
}
