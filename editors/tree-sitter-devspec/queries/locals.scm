; Scopes and definitions for Neovim: a file is one scope; lets, params and steps are defined in it and
; referred to by name (lets in values, steps after `on`).
(source_file) @local.scope
(let_declaration name: (identifier) @local.definition.constant)
(param_declaration name: (identifier) @local.definition.constant)
(step name: (identifier) @local.definition.function)
(path_import alias: (identifier) @local.definition.import)
(inputs (identifier) @local.reference)
(name (dotted_name . (identifier) @local.reference))
