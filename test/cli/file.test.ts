import { describeStoreCommands } from '../support/cli-suite.js';

describeStoreCommands('file');
