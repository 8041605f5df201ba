/** Injection tokens shared by every service module. */
export const CONFIG = Symbol('waybill.config');
export const LOGGER = Symbol('waybill.logger');
export const TRANSPORT = Symbol('waybill.transport');
