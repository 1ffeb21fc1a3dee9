// The devspec extension's client: starts `devspec lsp` (the language server, over stdio) for
// `.dev` files. Everything the editor shows beyond colours (diagnostics, completion, hover,
// definitions, renames, formatting, the outline) comes from the server.
'use strict';

const vscode = require('vscode');
const { LanguageClient, State } = require('vscode-languageclient/node');

/** @type {LanguageClient | undefined} */
let client;

/** The executable: the `devspec.serverPath` setting, else `devspec` on PATH. */
function serverCommand() {
  const configured = vscode.workspace.getConfiguration('devspec').get('serverPath', '');
  return configured.trim() !== '' ? configured.trim() : 'devspec';
}

function startClient(context) {
  const command = serverCommand();
  const serverOptions = { command, args: ['lsp'] };
  const clientOptions = {
    documentSelector: [{ language: 'devspec' }],
    // The server reads the files a spec imports itself; it only needs to hear about `.dev`
    // files that change on disk, and about the project's settings.
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher('**/{*.dev,devspec.toml}'),
    },
  };
  client = new LanguageClient('devspec', 'devspec', serverOptions, clientOptions);
  client.onDidChangeState((event) => {
    if (event.newState === State.Stopped) {
      vscode.window.showWarningMessage(
        `The devspec language server (\`${command} lsp\`) stopped. Is devspec installed? ` +
          'Set `devspec.serverPath` to its executable if it is not on PATH.',
      );
    }
  });
  return client.start().catch((error) => {
    vscode.window.showErrorMessage(
      `Could not start \`${command} lsp\`: ${error.message}. ` +
        'Install devspec (`make install`) or set `devspec.serverPath`.',
    );
  });
}

async function restartClient(context) {
  if (client) {
    await client.stop();
    client = undefined;
  }
  await startClient(context);
}

function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('devspec.restartServer', () => restartClient(context)),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('devspec.serverPath')) {
        restartClient(context);
      }
    }),
  );
  return startClient(context);
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
