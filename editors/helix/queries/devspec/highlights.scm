; Highlights for Helix: the same patterns as ../../../tree-sitter-devspec/queries/highlights.scm,
; with Helix's capture names. In Helix the first matching pattern wins, so specific ones
; come first.

(comment) @comment

(step kind: (identifier) @keyword)
(step name: (identifier) @function)
(let_declaration name: (identifier) @constant)
(param_declaration name: (identifier) @constant)
(param_declaration type: (identifier) @type.builtin)
(path_import alias: (identifier) @namespace)
(std_module name: (identifier) @namespace)
(preset (dotted_name) @namespace)
(inputs (identifier) @function)

(field name: (identifier) @variable.other.member)
(argument name: (identifier) @variable.parameter)
(call function: (dotted_name (identifier) @function .))
(name (dotted_name) @variable)

(integer) @constant.numeric.integer
(float) @constant.numeric.float
(string) @string
(boolean) @constant.builtin.boolean
(auto) @constant.builtin

["import" "std" "as"] @keyword.control.import
["let" "param" "from" "on"] @keyword
"with" @keyword.operator

["=" "+" "-" "*" "/" ".."] @operator
["," "." ":"] @punctuation.delimiter
["(" ")" "[" "]" "{" "}"] @punctuation.bracket
