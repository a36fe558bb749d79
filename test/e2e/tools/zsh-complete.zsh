#!/usr/bin/env zsh
# zsh-complete DIR LINE WANT: types LINE and a tab into an interactive zsh,
# on a terminal of its own, with DIR first in $fpath and compinit run, as a
# user's shell would have it; prints what the terminal showed, once it
# shows WANT or after 10 s.
emulate -L zsh
zmodload zsh/zpty || exit 2
local dir=$1 line=$2 want=$3 out= chunk i
zpty shell zsh -f -i
zpty -w shell "fpath=(${(q)dir} \$fpath); autoload -U compinit; compinit -u -D; PROMPT='> '"
zpty -w -n shell "$line"$'\t'
for i in {1..100}; do
	sleep 0.1
	while zpty -r -t shell chunk; do out+=$chunk; done
	[[ $out == *$want* ]] && break
done
zpty -d shell
print -r -- "${out//$'\r'/}"
