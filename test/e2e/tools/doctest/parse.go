package main

import (
	"bufio"
	"fmt"
	"regexp"
	"strings"
)

// A Step is one command typed at a prompt and the lines the document shows
// after it, or (Cmd empty) lines shown on their own: what a terminal that is
// still running a command prints meanwhile.
type Step struct {
	Line     int      // where the step starts in the document
	Section  string   // the heading above it
	Terminal string   // the prompt's name ("bob" for "bob$ "), "" for "$ "
	Cmd      string   // continuation lines joined, as bash reads them
	Expect   []string // the output lines shown after the command
}

// prompt is a command line of a console block: "$ cmd" or "name$ cmd".
var prompt = regexp.MustCompile(`^([a-z][a-z0-9]*)?\$ (.*)$`)

// ParseMarkdown returns the steps of a Markdown document's console blocks
// (```console … ```), in order.
func ParseMarkdown(doc string) ([]Step, error) {
	var (
		steps   []Step
		section string
		inBlock bool
		block   []numbered
	)
	sc := bufio.NewScanner(strings.NewReader(doc))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case !inBlock && strings.HasPrefix(line, "#"):
			section = strings.TrimSpace(strings.TrimLeft(line, "#"))
		case !inBlock && strings.TrimSpace(line) == "```console":
			inBlock, block = true, nil
		case inBlock && strings.TrimSpace(line) == "```":
			inBlock = false
			s, err := blockSteps(block, section)
			if err != nil {
				return nil, err
			}
			steps = append(steps, s...)
		case inBlock:
			block = append(block, numbered{n, line})
		}
	}
	if inBlock {
		return nil, fmt.Errorf("line %d: a console block is not closed", len(strings.Split(doc, "\n")))
	}
	return steps, sc.Err()
}

// ParseMan returns the steps of a man page's examples: the .EX/.EE blocks of
// its EXAMPLES section whose lines start with a prompt, with roff escapes
// decoded. Blocks without a prompt (a script shown whole) are not steps. A
// step's Section is the paragraph that introduces its block, as "When bob's
// key changed without a rotation:".
func ParseMan(page string) ([]Step, error) {
	var (
		steps     []Step
		inExample bool
		inBlock   bool
		block     []numbered
		caption   []string
	)
	sc := bufio.NewScanner(strings.NewReader(page))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ".SH "):
			inExample = strings.TrimSpace(strings.TrimPrefix(line, ".SH ")) == "EXAMPLES"
		case !inExample:
		case line == ".EX":
			inBlock, block = true, nil
		case line == ".EE" && inBlock:
			inBlock = false
			section := strings.Join(caption, " ")
			caption = nil
			if len(block) == 0 || !prompt.MatchString(block[0].text) {
				continue
			}
			s, err := blockSteps(block, section)
			if err != nil {
				return nil, err
			}
			steps = append(steps, s...)
		case inBlock && strings.HasPrefix(line, "."):
		case inBlock:
			block = append(block, numbered{n, unroff(line)})
		default:
			if text := captionText(line); text != "" {
				caption = append(caption, text)
			}
		}
	}
	return steps, sc.Err()
}

// captionText is what a line of a paragraph shows: its text, or the words
// of a font request (.B, .IR …), joined as roff joins them.
func captionText(line string) string {
	req, args, _ := strings.Cut(line, " ")
	switch {
	case !strings.HasPrefix(line, "."):
		return unroff(line)
	case req == ".B" || req == ".I":
		return unroff(strings.Trim(args, `"`))
	case len(req) == 3 && strings.Trim(req[1:], "BIR") == "":
		return unroff(strings.ReplaceAll(strings.Join(strings.Fields(args), ""), `"`, ""))
	}
	return ""
}

type numbered struct {
	n    int
	text string
}

// blockSteps splits one block into steps: each prompt line (with the lines
// it continues onto, see continues) is a command, and the
// lines up to the next prompt are its output.
func blockSteps(block []numbered, section string) ([]Step, error) {
	var steps []Step
	for i := 0; i < len(block); i++ {
		m := prompt.FindStringSubmatch(block[i].text)
		if m == nil {
			if len(steps) == 0 {
				steps = append(steps, Step{Line: block[i].n, Section: section})
			}
			last := &steps[len(steps)-1]
			last.Expect = append(last.Expect, block[i].text)
			continue
		}
		if strings.TrimSpace(m[2]) == "" {
			return nil, fmt.Errorf("line %d: a prompt with no command", block[i].n)
		}
		s := Step{Line: block[i].n, Section: section, Terminal: m[1], Cmd: m[2]}
		for continues(s.Cmd) {
			i++
			if i == len(block) {
				return nil, fmt.Errorf("line %d: the command goes on past the end of its block", s.Line)
			}
			s.Cmd += "\n" + block[i].text
		}
		steps = append(steps, s)
	}
	return steps, nil
}

// continues reports whether bash reads on after a command's last line: one
// that ends in a backslash, a pipe, && or ||.
func continues(cmd string) bool {
	if strings.HasSuffix(cmd, `\`) {
		return true
	}
	line := strings.TrimRight(cmd[strings.LastIndex(cmd, "\n")+1:], " ")
	return strings.HasSuffix(line, "|") || strings.HasSuffix(line, "&&")
}

// roffEscapes are the escapes man pages here use inside examples; "..."
// is how a man page writes an ellipsis.
var roffEscapes = strings.NewReplacer(`\-`, "-", `\e`, `\`, `\(aq`, "'", `\(dq`, `"`, `\(ti`, "~",
	`\(ha`, "^", `\&`, "", `\|`, "", `\fB`, "", `\fI`, "", `\fR`, "", `\fP`, "", `\(em`, "—", `\(en`, "–",
	`\(lq`, "“", `\(rq`, "”", `\[u2026]`, "…", "...", "…")

func unroff(line string) string {
	return roffEscapes.Replace(line)
}
