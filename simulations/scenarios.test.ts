/** @module Scenarios, first half (simulations/suite.ts). */
import { defineScenarioSuite } from './suite.ts';

defineScenarioSuite(0, 2);
