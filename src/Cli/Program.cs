using BiVM.Cli;

return BivmCommandLine.Build().Parse(args).Invoke();
