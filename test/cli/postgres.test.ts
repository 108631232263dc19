import { inject } from 'vitest';
import { describeStoreCommands } from '../support/cli-suite.js';

// Skipped (with one line from the global setup saying why) when the PostgreSQL test server cannot be reached.
describeStoreCommands('postgres', inject('postgresUnreachable') !== null);
