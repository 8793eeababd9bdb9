// CSV cells a spreadsheet will not run: a cell that begins with = + - @ or a tab or carriage return
// is read as a formula by Excel, LibreOffice and Google Sheets (OWASP "CSV injection"), so it is
// prefixed with a single quote. Values that came from outside (account names, display names, IdP
// attributes) reach every CSV Gatehouse writes.

export function spreadsheetSafe(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}
