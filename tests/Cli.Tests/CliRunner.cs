using System.CommandLine;

namespace BiVM.Cli.Tests;

/// <summary>Runs <c>bivm</c> in process, the way Program.cs does, with captured standard output and error.</summary>
internal static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = BivmCommandLine.Invoke(args, new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }
}
