/**
 * dependency-cruiser: no import cycle anywhere in the repo, type-only imports included (a cycle
 * through `import type` still ties two modules into one unit of change). Run by `npm run lint`.
 * ESLint's `import/no-cycle` skips type-only imports, hence this tool.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules import in one direction: move what both sides need into a third module.',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['(^|/)node_modules/', '(^|/)dist/', '^apps/console/', '^tmp/', '^\\.waybill/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
