export * from './api-doc';
export * from './openapi.builder';
export * from './openapi.service';
export * from './openapi.module';
