// A glyph per execution status, so that a status reads without colour (canvas labels, node list,
// legend). Only glyphs the stock DejaVu fonts draw: the UI must not depend on an emoji font.

import { EXECUTION_STATUS } from './statuses.js';

const S = EXECUTION_STATUS;

export const STATUS_ICON = {
  none: '○',
  [S.QUEUED]: '◷',
  [S.RUNNING]: '⟳',
  [S.WAITING]: '❚❚',
  [S.PARKED]: '☾', // hit a usage limit: sleeps until it resets
  [S.SUCCEEDED]: '✓',
  [S.FAILED]: '✕',
  [S.CANCELLED]: '⊘',
  [S.TIMED_OUT]: '◔',
  [S.INTERRUPTED]: '⚠',
  [S.SKIPPED]: '↷',
  [S.LOST]: '∅', // the Ray worker it ran on went away
};

export function statusIcon(status) {
  return STATUS_ICON[status || 'none'] ?? '•';
}
