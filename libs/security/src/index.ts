export * from './secret-box';
export * from './destination-guard';
export * from './guarded-connector';
