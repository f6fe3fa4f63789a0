/** `sessionKey` of the SQL text expression `expr`, computed by PostgreSQL. */
export function pgSessionKey(expr: string): string {
  return `encode(sha256(convert_to(${expr}, 'UTF8')), 'hex')`;
}
