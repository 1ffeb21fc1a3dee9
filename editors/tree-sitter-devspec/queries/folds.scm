; Folds: step blocks, records, lists and call arguments that span lines.
[
  (block)
  (record)
  (list)
  (arguments)
] @fold
