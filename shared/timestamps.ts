// Timestamps read with raw SQL come back as Date or as text depending on the driver path; this gives
// the one form the API and the ledger use (ISO 8601, UTC, milliseconds).
export const isoTime = (value: Date | string): string => (value instanceof Date ? value : new Date(value)).toISOString();
