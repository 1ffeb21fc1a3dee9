// Checks the TextMate grammar with VS Code's own tokenizer (vscode-textmate over the Oniguruma
// regex engine, as VS Code runs it): every spec in the repository tokenizes, and the tokens of
// specs/tms.dev carry the scopes a theme colours. Run by `make editors` (`npm test`).
'use strict';

const fs = require('fs');
const path = require('path');
const assert = require('assert');
const textmate = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const repo = path.join(__dirname, '..', '..', '..');

function specs() {
  const found = [];
  const walk = (dir) => {
    if (!fs.existsSync(dir)) return;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.dev')) found.push(full);
    }
  };
  for (const dir of ['specs', 'stdlib', 'docs/examples', 'tests']) walk(path.join(repo, dir));
  return found.sort();
}

async function grammar() {
  const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== 'source.devspec') return null;
      const file = path.join(__dirname, '..', 'syntaxes', 'devspec.tmLanguage.json');
      return textmate.parseRawGrammar(fs.readFileSync(file, 'utf8'), file);
    },
  });
  return registry.loadGrammar('source.devspec');
}

/** Each token of `text` as [text, its innermost scope]. */
function tokenize(devspec, text) {
  let state = textmate.INITIAL;
  const tokens = [];
  for (const line of text.split('\n')) {
    const result = devspec.tokenizeLine(line, state);
    for (const token of result.tokens) {
      tokens.push([line.slice(token.startIndex, token.endIndex), token.scopes[token.scopes.length - 1]]);
    }
    state = result.ruleStack;
  }
  return tokens;
}

function scopeOf(tokens, text) {
  const token = tokens.find(([found]) => found === text);
  assert.ok(token, `no token ${JSON.stringify(text)}`);
  return token[1];
}

async function main() {
  const devspec = await grammar();
  const all = specs();
  assert.ok(all.length >= 40, `only ${all.length} specs found`);
  for (const file of all) tokenize(devspec, fs.readFileSync(file, 'utf8'));

  const tms = tokenize(devspec, fs.readFileSync(path.join(repo, 'specs', 'tms.dev'), 'utf8'));
  const expected = {
    import: 'keyword.control.import.devspec',
    let: 'storage.type.let.devspec',
    features: 'variable.other.constant.devspec',
    train: 'keyword.other.step-kind.devspec',
    tms_run: 'entity.name.function.step.devspec',
    estimate: 'keyword.other.step-kind.devspec',
    model: 'variable.other.property.devspec',
    'tms.model': 'entity.name.function.devspec',
    '30_000': 'constant.numeric.integer.devspec',
    '3e-3': 'constant.numeric.float.devspec',
    auto: 'constant.language.auto.devspec',
    true: 'constant.language.boolean.devspec',
    '..': 'keyword.operator.range.devspec',
  };
  for (const [text, scope] of Object.entries(expected)) {
    assert.strictEqual(scopeOf(tms, text), scope, `the scope of ${text}`);
  }
  const comment = tms.find(([text]) => text.startsWith(' Toy model'));
  assert.ok(comment && comment[1].startsWith('comment.line'), 'the first line is a comment');
  const on = tms.filter(([text]) => text === 'on');
  assert.ok(on.length > 0 && on.every(([, scope]) => scope === 'keyword.other.on.devspec'), '`on` is a keyword');
  const quoted = tms.filter(([, scope]) => scope.startsWith('string.quoted') || scope.startsWith('punctuation.definition.string'));
  assert.ok(quoted.some(([text]) => text === 'train_loss'), 'strings are strings');
  console.log(`the TextMate grammar: ${all.length} specs tokenized, the scopes of specs/tms.dev as expected`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
