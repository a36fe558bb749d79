package cli

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	urfave "github.com/urfave/cli/v2"
)

// completionFlagName is the hidden flag that prints a completion script:
//
//	source <(smvs-keygen --completion bash)
const completionFlagName = "completion"

func completionFlag() urfave.Flag {
	return &urfave.StringFlag{Name: completionFlagName, Usage: "print the `SHELL` (bash or zsh) completion script", Hidden: true}
}

// writeCompletion prints the completion script for shell. The scripts are
// static: generated from the flags and subcommands, they never run the
// command while completing.
func writeCompletion(c *urfave.Context, shell string) error {
	root := completionTree(c.App)
	switch shell {
	case "bash":
		writeBash(c.App.Writer, c.App.Name, root)
	case "zsh":
		writeZsh(c.App.Writer, c.App.Name, root)
	default:
		return UsageErrorf(c, "unknown shell %q for --completion: want bash or zsh", shell)
	}
	return nil
}

// complCommand is what completion needs to know of a command.
type complCommand struct {
	path  []string // the subcommand names leading to it; none for the root
	names []string // its name and aliases
	usage string
	flags []complFlag
	subs  []*complCommand
}

type complFlag struct {
	names       []string // with their dashes: "-o", "--output"
	usage       string   // with urfave's `PLACEHOLDER` quotes removed
	placeholder string   // what the value is, "FILE"; "" for a flag with no value
	file        bool     // the value is a file name
	dir         bool     // the value is a directory: a file flag whose placeholder is DIR
}

func completionTree(app *urfave.App) *complCommand {
	root := &complCommand{names: []string{app.Name}, usage: app.Usage, flags: complFlags(app.VisibleFlags(), false)}
	root.subs = complCommands(nil, app.VisibleCommands(), map[*urfave.Command]bool{})
	return root
}

// complCommands describes cmds and their subcommands. It skips commands
// already seen: urfave's help command, once run, is its own subcommand.
func complCommands(path []string, cmds []*urfave.Command, seen map[*urfave.Command]bool) []*complCommand {
	var out []*complCommand
	for _, cmd := range cmds {
		if seen[cmd] {
			continue
		}
		seen[cmd] = true
		c := &complCommand{
			path:  append(slices.Clip(path), cmd.Name),
			names: cmd.Names(),
			usage: cmd.Usage,
			flags: complFlags(cmd.VisibleFlags(), !cmd.HideHelp),
		}
		c.subs = complCommands(c.path, cmd.VisibleCommands(), seen)
		out = append(out, c)
	}
	return out
}

// complFlags describes flags, adding --help (which urfave only adds to a
// subcommand's flags when it runs) if withHelp.
func complFlags(flags []urfave.Flag, withHelp bool) []complFlag {
	if withHelp && urfave.HelpFlag != nil && !slices.ContainsFunc(flags, func(f urfave.Flag) bool {
		return slices.Equal(f.Names(), urfave.HelpFlag.Names())
	}) {
		flags = append(slices.Clip(flags), urfave.HelpFlag)
	}
	var out []complFlag
	for _, f := range flags {
		var cf complFlag
		for _, n := range f.Names() {
			cf.names = append(cf.names, dashed(n))
		}
		if d, ok := f.(urfave.DocGenerationFlag); ok {
			cf.usage = d.GetUsage()
			if d.TakesValue() {
				cf.placeholder = "VALUE"
				if m := placeholderRE.FindStringSubmatch(cf.usage); m != nil {
					cf.placeholder = m[1]
				}
			}
			cf.usage = strings.ReplaceAll(cf.usage, "`", "")
		}
		cf.file = takesFile(f)
		cf.dir = cf.file && cf.placeholder == "DIR"
		out = append(out, cf)
	}
	return out
}

// placeholderRE finds the name urfave shows for a flag's value, `FILE`.
var placeholderRE = regexp.MustCompile("`([^`]+)`")

func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func takesFile(f urfave.Flag) bool {
	switch f := f.(type) {
	case *urfave.StringFlag:
		return f.TakesFile
	case *urfave.PathFlag:
		return f.TakesFile
	case *urfave.StringSliceFlag:
		return f.TakesFile
	case *urfave.GenericFlag:
		return f.TakesFile
	}
	return false
}

// shellName makes a shell function name of a command path.
func shellName(parts ...string) string {
	s := "_" + strings.Join(parts, "_")
	return strings.Map(func(r rune) rune {
		if r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// shellQuote quotes s for bash or zsh, in single quotes.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (c *complCommand) all() []*complCommand {
	out := []*complCommand{c}
	for _, s := range c.subs {
		out = append(out, s.all()...)
	}
	return out
}

func writeBash(w io.Writer, name string, root *complCommand) {
	fn := shellName(name)
	fmt.Fprintf(w, "# bash completion for %s; load it with: source <(%s --completion bash)\n", name, name)
	fmt.Fprintf(w, "%s() {\n", fn)
	fmt.Fprint(w, `	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	# "--flag=value" comes as three words: "--flag" "=" "value".
	if [[ $cur == = ]]; then
		cur=
	elif [[ $prev == = && $COMP_CWORD -gt 1 ]]; then
		prev=${COMP_WORDS[COMP_CWORD-2]}
	fi
`)
	if len(root.subs) > 0 {
		fmt.Fprint(w, `	local path= i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case "$path ${COMP_WORDS[i]}" in
`)
		for _, c := range root.all()[1:] {
			// Paths have a leading space, as "$path word" has; an alias
			// leads to its command's path.
			parent := c.path[:len(c.path)-1]
			var pats []string
			for _, n := range c.names {
				pats = append(pats, shellQuote(" "+strings.Join(append(slices.Clip(parent), n), " ")))
			}
			fmt.Fprintf(w, "\t\t%s) path=%s ;;\n", strings.Join(pats, " | "), shellQuote(" "+strings.Join(c.path, " ")))
		}
		fmt.Fprint(w, "\t\tesac\n\tdone\n")
	} else {
		fmt.Fprint(w, "\tlocal path=\n")
	}
	fmt.Fprint(w, "\tlocal flags= dirs= files= values= commands=\n\tcase $path in\n")
	for _, c := range root.all() {
		var flags, dirs, files, values, cmds []string
		for _, f := range c.flags {
			flags = append(flags, f.names...)
			switch {
			case f.dir:
				dirs = append(dirs, f.names...)
			case f.file:
				files = append(files, f.names...)
			case f.placeholder != "":
				values = append(values, f.names...)
			}
		}
		for _, s := range c.subs {
			cmds = append(cmds, s.names...)
		}
		fmt.Fprintf(w, "\t%s)\n", shellQuote(strings.Join(append([]string{""}, c.path...), " ")))
		fmt.Fprintf(w, "\t\tflags=%s\n", shellQuote(strings.Join(flags, " ")))
		fmt.Fprintf(w, "\t\tdirs=%s\n", shellQuote(strings.Join(dirs, " ")))
		fmt.Fprintf(w, "\t\tfiles=%s\n", shellQuote(strings.Join(files, " ")))
		fmt.Fprintf(w, "\t\tvalues=%s\n", shellQuote(strings.Join(values, " ")))
		fmt.Fprintf(w, "\t\tcommands=%s\n", shellQuote(strings.Join(cmds, " ")))
		fmt.Fprint(w, "\t\t;;\n")
	}
	fmt.Fprint(w, `	esac
	COMPREPLY=()
	if [[ " $dirs " == *" $prev "* ]]; then
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
	elif [[ " $files " == *" $prev "* ]]; then
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
	elif [[ " $values " == *" $prev "* ]]; then
		return 0
	elif [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$flags" -- "$cur")
	elif [[ -n $commands ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
	else
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
	fi
	return 0
}
`)
	fmt.Fprintf(w, "complete -o filenames -F %s %s\n", fn, name)
}

// zshDescription escapes s for the [description] of an _arguments spec.
func zshDescription(s string) string {
	return strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`, ":", `\:`).Replace(s)
}

func writeZsh(w io.Writer, name string, root *complCommand) {
	fn := zshFunctionName(name, nil)
	fmt.Fprintf(w, "#compdef %s\n", name)
	fmt.Fprintf(w, "# zsh completion for %s; load it with: source <(%s --completion zsh)\n", name, name)
	for _, c := range root.all() {
		writeZshFunction(w, name, c)
	}
	fmt.Fprintf(w, `
if [[ $funcstack[1] == %[1]s ]]; then
	%[1]s "$@"
else
	compdef %[1]s %[2]s
fi
`, fn, name)
}

// zshFunctionName names the function that completes the command at path of
// the program name. The program's own is _name, as the file it is installed
// in: compinit autoloads that file as the function _name, and the script
// completes at once only when that is the function it defines.
func zshFunctionName(name string, path []string) string {
	if len(path) == 0 {
		return "_" + name
	}
	return shellName(append([]string{name}, path...)...)
}

// writeZshFunction writes the function that completes the words of c, a
// command of the program name.
func writeZshFunction(w io.Writer, name string, c *complCommand) {
	fmt.Fprintf(w, "\n%s() {\n", zshFunctionName(name, c.path))
	if len(c.subs) > 0 {
		fmt.Fprint(w, "\tlocal curcontext=$curcontext state line\n\ttypeset -A opt_args\n\t_arguments -s -C")
	} else {
		fmt.Fprint(w, "\t_arguments -s")
	}
	for _, f := range c.flags {
		spec := zshDescription(f.usage)
		spec = "[" + spec + "]"
		if f.placeholder != "" {
			action := " "
			switch {
			case f.dir:
				action = "_files -/"
			case f.file:
				action = "_files"
			}
			spec += ":" + zshDescription(f.placeholder) + ":" + action
		}
		if len(f.names) == 1 {
			fmt.Fprintf(w, " \\\n\t\t%s", shellQuote(f.names[0]+spec))
			continue
		}
		// '(-o --output)'{-o,--output}'[…]': either name, not both.
		fmt.Fprintf(w, " \\\n\t\t%s{%s}%s",
			shellQuote("("+strings.Join(f.names, " ")+")"), strings.Join(f.names, ","), shellQuote(spec))
	}
	if len(c.subs) == 0 {
		fmt.Fprint(w, " \\\n\t\t'*:file:_files'\n}\n")
		return
	}
	fmt.Fprint(w, " \\\n\t\t'1:command:->command' \\\n\t\t'*::argument:->argument'\n")
	fmt.Fprint(w, "\tcase $state in\n\tcommand)\n\t\tlocal -a commands=(\n")
	for _, s := range c.subs {
		for _, n := range s.names {
			fmt.Fprintf(w, "\t\t\t%s\n", shellQuote(strings.ReplaceAll(n, ":", `\:`)+":"+s.usage))
		}
	}
	fmt.Fprint(w, "\t\t)\n\t\t_describe -t commands command commands\n\t\t;;\n\targument)\n\t\tcase $line[1] in\n")
	for _, s := range c.subs {
		quoted := make([]string, len(s.names))
		for i, n := range s.names {
			quoted[i] = shellQuote(n)
		}
		fmt.Fprintf(w, "\t\t%s) %s ;;\n", strings.Join(quoted, " | "), zshFunctionName(name, s.path))
	}
	fmt.Fprint(w, "\t\tesac\n\t\t;;\n\tesac\n}\n")
}
