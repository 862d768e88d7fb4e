# megactl bash completion: commands, options, and mount names asked of the running daemon (quietly:
# no daemon means no names, never an error on the prompt). Plain bash: needs no bash-completion.
_megactl_mount_names() {
    megactl list 2>/dev/null | awk 'NR > 1 && NF >= 5 { print $1 }'
}

_megactl() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD - 1]}"
    local -a words=("${COMP_WORDS[@]}")
    local cword=$COMP_CWORD

    local commands="list status mount unmount reload prefetch stats changes diff reset commit push checkout doctor"
    local global_opts="--json --timeout --help --version"
    local command="" i
    for ((i = 1; i < cword; i++)); do
        case "${words[i]}" in
            --timeout) ((i++)) ;;
            -*) ;;
            *) command="${words[i]}"; break ;;
        esac
    done

    if [[ "$prev" == "--timeout" ]]; then
        return
    fi
    if [[ -z "$command" ]]; then
        COMPREPLY=($(compgen -W "$commands $global_opts" -- "$cur"))
        return
    fi

    case "$command" in
        status | stats)
            if [[ "$cur" == -* ]]; then
                COMPREPLY=($(compgen -W "--json --help" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(_megactl_mount_names)" -- "$cur"))
                COMPREPLY+=($(compgen -d -- "$cur"))
            fi
            ;;
        mount)
            case "$prev" in
                --rev | --path | --name) return ;;
            esac
            if [[ "$cur" == -* ]]; then
                COMPREPLY=($(compgen -W "--rev --path --writable --name --json --timeout --help" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(_megactl_mount_names)" -- "$cur"))
                COMPREPLY+=($(compgen -d -- "$cur"))
            fi
            ;;
        unmount)
            if [[ "$cur" == -* ]]; then
                COMPREPLY=($(compgen -W "--force --lazy --json --timeout --help" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(_megactl_mount_names)" -- "$cur"))
                COMPREPLY+=($(compgen -d -- "$cur"))
            fi
            ;;
        prefetch)
            if [[ "$cur" == -* ]]; then
                COMPREPLY=($(compgen -W "--json --timeout --help" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(_megactl_mount_names)" -- "$cur"))
            fi
            ;;
        changes | diff | push)
            if [[ "$cur" == -* ]]; then
                COMPREPLY=($(compgen -W "--json --timeout --help" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(_megactl_mount_names)" -- "$cur"))
            fi
            ;;
        reset)
            if [[ "$cur" == -* ]]; then
                COMPREPLY=($(compgen -W "--all --json --timeout --help" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(_megactl_mount_names)" -- "$cur"))
            fi
            ;;
        commit)
            case "$prev" in
                -m | --message | --author) return ;;
            esac
            if [[ "$cur" == -* ]]; then
                COMPREPLY=($(compgen -W "-m --message --author --json --timeout --help" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(_megactl_mount_names)" -- "$cur"))
            fi
            ;;
        checkout)
            if [[ "$cur" == -* ]]; then
                COMPREPLY=($(compgen -W "--force --json --timeout --help" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(_megactl_mount_names)" -- "$cur"))
            fi
            ;;
        doctor)
            if [[ "$prev" == "--config" ]]; then
                COMPREPLY=($(compgen -f -- "$cur"))
            else
                COMPREPLY=($(compgen -W "--config --json --help" -- "$cur"))
            fi
            ;;
        reload | list)
            COMPREPLY=($(compgen -W "--json --timeout --help" -- "$cur"))
            ;;
    esac
}
complete -o filenames -F _megactl megactl
