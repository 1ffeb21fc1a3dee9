/**
 * @file The tree-sitter grammar of devspec's `.dev` files (language v1).
 *
 * It mirrors `grammar/devspec.pest`, the language's definition, rule for rule; where they
 * differ, pest is right and this file is wrong. The test
 * `editors/tree-sitter-devspec/tests/same_tree.rs` checks that both read every spec in the
 * repository (and every line-prefix of it) the same way.
 */

/// <reference types="tree-sitter-cli/dsl" />
// @ts-check

// Words with a meaning of their own: never a name (pest's `keyword`). `std` is not among them:
// it is a keyword only right after `import`. Reserved words need ABI 15; the committed parser is
// ABI 14 (`tree-sitter generate --abi 14`) so Neovim 0.10 loads it, and there a keyword where
// only a name can stand reads as a name.
const RESERVED = ['import', 'param', 'let', 'from', 'on', 'with', 'true', 'false', 'auto', 'as'];

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/;
const DIGITS = /[0-9](_?[0-9])*/;

module.exports = grammar({
  name: 'devspec',

  // Spaces, tabs and newlines separate tokens anywhere; comments run to the end of the line.
  extras: $ => [/[ \t\r\n]/, $.comment],

  word: $ => $.identifier,

  reserved: {
    global: _ => RESERVED,
  },

  rules: {
    // A whole file: imports, parameters, lets and steps, in any order.
    source_file: $ => repeat(choice($.import, $.param_declaration, $.let_declaration, $.step)),

    // `import std.tms` or `import "presets/mine.dev" as mine`.
    import: $ => seq('import', choice($.std_module, $.path_import)),
    std_module: $ => seq('std', '.', field('name', $.identifier)),
    path_import: $ => seq(field('path', $.string), 'as', field('alias', $.identifier)),

    // `param NAME: TYPE "doc"`: a value the spec leaves open; the doc string is optional.
    param_declaration: $ => seq(
      'param',
      field('name', $.identifier),
      ':',
      field('type', $.identifier),
      optional(field('doc', $.string)),
    ),

    // `let NAME = EXPR`.
    let_declaration: $ => seq('let', field('name', $.identifier), '=', field('value', $._expression)),

    // `KIND NAME [from PRESET] [on STEP, ...] { FIELD = EXPR ... }`.
    step: $ => seq(
      field('kind', $.identifier),
      field('name', $.identifier),
      optional($.preset),
      optional($.inputs),
      field('body', $.block),
    ),
    preset: $ => seq('from', $.dotted_name),
    inputs: $ => seq('on', $.identifier, repeat(seq(',', $.identifier))),
    // Fields separated by newlines or commas.
    block: $ => seq('{', repeat(seq($.field, optional(','))), '}'),
    field: $ => seq(field('name', $.identifier), '=', field('value', $._expression)),

    // `with` binds loosest; a range joins two arithmetic values and does not chain; unary minus
    // binds tightest (pest's `expr`, `range_expr`, `sum`, `product`, `unary`).
    _expression: $ => choice($.with_expression, $.range_expression, $._arithmetic),
    with_expression: $ => prec.left(seq(
      field('base', $._expression),
      'with',
      field('overrides', $.record),
    )),
    range_expression: $ => seq(field('start', $._arithmetic), '..', field('end', $._arithmetic)),
    _arithmetic: $ => choice($.binary_expression, $.unary_expression, $._primary),
    binary_expression: $ => choice(
      prec.left(1, seq(
        field('left', $._arithmetic),
        field('operator', choice('+', '-')),
        field('right', $._arithmetic),
      )),
      prec.left(2, seq(
        field('left', $._arithmetic),
        field('operator', choice('*', '/')),
        field('right', $._arithmetic),
      )),
    ),
    unary_expression: $ => prec(3, seq('-', field('operand', choice($.unary_expression, $._primary)))),

    _primary: $ => choice(
      $.float,
      $.integer,
      $.string,
      $.boolean,
      $.auto,
      $.list,
      $.record,
      $.name,
      $.call,
      $.parenthesized_expression,
    ),
    parenthesized_expression: $ => seq('(', $._expression, ')'),
    name: $ => $.dotted_name,
    call: $ => seq(field('function', $.dotted_name), field('arguments', $.arguments)),
    // Positional arguments come before named ones; devspec's parser says so, not its grammar.
    arguments: $ => seq('(', optional(seq($.argument, repeat(seq(',', $.argument)), optional(','))), ')'),
    argument: $ => seq(
      optional(seq(field('name', $.identifier), '=')),
      field('value', $._expression),
    ),
    list: $ => seq('[', optional(seq($._expression, repeat(seq(',', $._expression)), optional(','))), ']'),
    record: $ => seq('{', repeat(seq($.field, optional(','))), '}'),

    // `tms.chen2023`: no space around the dots (pest's `dotted_name` is compound-atomic).
    dotted_name: $ => seq(
      $.identifier,
      repeat(seq(token.immediate('.'), alias(token.immediate(IDENT), $.identifier))),
    ),

    identifier: _ => IDENT,
    // `3.5`, `1e-3`, `2.5E+4`; `_` groups digits.
    float: _ => token(seq(DIGITS, choice(seq('.', DIGITS, optional(/[eE][+-]?[0-9](_?[0-9])*/)), /[eE][+-]?[0-9](_?[0-9])*/))),
    integer: _ => token(DIGITS),
    // `"text"`, with a backslash escaping any one character (devspec's parser says which are
    // allowed: `\"`, `\\`, `\n`, `\t`).
    string: _ => token(seq('"', repeat(choice(/[^"\\\n]/, /\\(.|\n)/)), '"')),
    boolean: _ => choice('true', 'false'),
    auto: _ => 'auto',
    comment: _ => token(seq('#', /.*/)),
  },
});
