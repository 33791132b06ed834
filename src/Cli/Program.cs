using BiVM.Cli;

return BivmCommandLine.Invoke(args);
