// Checks the client's contract with the language server, without VS Code: `extension.js` is
// loaded with stand-ins for the `vscode` and `vscode-languageclient` modules, and must start
// `devspec lsp` over stdio for `devspec` documents, from PATH or from `devspec.serverPath`, and
// say which setting to change when the server cannot start. Run by `make editors` (`npm test`).
'use strict';

const assert = require('assert');
const Module = require('module');
const path = require('path');

function load({ serverPath, startFails }) {
  const seen = { clients: [], errors: [], commands: [] };
  const vscode = {
    workspace: {
      getConfiguration: (section) => ({
        get: (key, fallback) => (section === 'devspec' && key === 'serverPath' ? serverPath : fallback),
      }),
      createFileSystemWatcher: (glob) => ({ glob }),
      onDidChangeConfiguration: () => ({ dispose() {} }),
    },
    commands: {
      registerCommand: (name) => {
        seen.commands.push(name);
        return { dispose() {} };
      },
    },
    window: {
      showErrorMessage: (message) => seen.errors.push(message),
      showWarningMessage: (message) => seen.errors.push(message),
    },
  };
  class LanguageClient {
    constructor(id, name, serverOptions, clientOptions) {
      seen.clients.push({ id, name, serverOptions, clientOptions });
    }
    onDidChangeState() {}
    start() {
      return startFails ? Promise.reject(new Error('spawn devspec ENOENT')) : Promise.resolve();
    }
    stop() {
      return Promise.resolve();
    }
  }
  const stubs = { vscode, 'vscode-languageclient/node': { LanguageClient, State: { Stopped: 1, Running: 2 } } };
  const originalLoad = Module._load;
  Module._load = function (request, ...rest) {
    return Object.hasOwn(stubs, request) ? stubs[request] : originalLoad.call(this, request, ...rest);
  };
  const file = path.join(__dirname, '..', 'extension.js');
  delete require.cache[require.resolve(file)];
  try {
    return { extension: require(file), seen };
  } finally {
    Module._load = originalLoad;
  }
}

async function main() {
  const context = { subscriptions: [] };

  const onPath = load({ serverPath: '' });
  await onPath.extension.activate(context);
  assert.strictEqual(onPath.seen.clients.length, 1);
  const client = onPath.seen.clients[0];
  assert.deepStrictEqual(client.serverOptions, { command: 'devspec', args: ['lsp'] }, 'devspec lsp from PATH, over stdio');
  assert.deepStrictEqual(client.clientOptions.documentSelector, [{ language: 'devspec' }]);
  assert.ok(onPath.seen.commands.includes('devspec.restartServer'));
  assert.deepStrictEqual(onPath.seen.errors, []);

  const configured = load({ serverPath: ' /opt/devspec/bin/devspec ' });
  await configured.extension.activate(context);
  assert.deepStrictEqual(configured.seen.clients[0].serverOptions, { command: '/opt/devspec/bin/devspec', args: ['lsp'] });

  const missing = load({ serverPath: '', startFails: true });
  await missing.extension.activate(context);
  assert.strictEqual(missing.seen.errors.length, 1);
  assert.match(missing.seen.errors[0], /devspec lsp/);
  assert.match(missing.seen.errors[0], /devspec\.serverPath/);

  console.log('the client: starts `devspec lsp` (PATH or devspec.serverPath) and names the setting when it cannot');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
