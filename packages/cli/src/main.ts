#!/usr/bin/env node
import { Command } from "commander";

const program = new Command("cr").description("incremental and branching checkpoint/restart for Linux processes").version("0.1.0");
program.parse();
