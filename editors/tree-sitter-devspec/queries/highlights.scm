; Highlights for Neovim (0.10+) and Zed: the capture names of nvim-treesitter, which Zed shares.
; Helix names its captures differently: see ../helix/queries/devspec/highlights.scm.

(comment) @comment @spell

["import" "std" "as"] @keyword.import
["let" "param" "from" "on"] @keyword
"with" @keyword.operator

; The step's kind (`train`, `estimate`, `detect`, `report`) reads as the statement's keyword.
(step kind: (identifier) @keyword)
(step name: (identifier) @function)
(let_declaration name: (identifier) @constant)
(param_declaration name: (identifier) @constant)
(param_declaration type: (identifier) @type.builtin)
(param_declaration doc: (string) @string.documentation)
(path_import alias: (identifier) @module)
(std_module name: (identifier) @module)
(preset (dotted_name) @module)
(inputs (identifier) @function)

(field name: (identifier) @property)
(argument name: (identifier) @variable.parameter)
(call function: (dotted_name (identifier) @function.call .))
(name (dotted_name) @variable)

(integer) @number
(float) @number.float
(string) @string
(boolean) @boolean
(auto) @constant.builtin

["=" "+" "-" "*" "/" ".."] @operator
["," "." ":"] @punctuation.delimiter
["(" ")" "[" "]" "{" "}"] @punctuation.bracket
