using System.CommandLine;
using BiVM.Contracts;

namespace BiVM.Cli.Tests;

/// <summary>
/// One error policy for every command: the exit code says whose problem it is (README, "Exit codes"), a user's
/// mistake is one line, and an internal error says so, with the stack trace only under --verbose.
/// </summary>
public sealed class ErrorPolicyTests
{
    private static (int Code, string Err) RunThrowing(Exception exception, params string[] extra)
    {
        var root = new RootCommand();
        root.Options.Add(BivmCommandLine.Verbose);
        var command = new Command("fail");
        CommandRunner.SetAction(command, (_, _) => throw exception);
        root.Subcommands.Add(command);
        var error = new StringWriter();
        int code = root.Parse(["fail", .. extra]).Invoke(new InvocationConfiguration { Output = new StringWriter(), Error = error });
        return (code, error.ToString());
    }

    [Fact]
    public void A_user_input_error_is_one_line_and_exit_code_1()
    {
        var (code, err) = RunThrowing(new UserInputException("clip.mp4: no such file"));
        Assert.Equal(ExitCodes.UserInputError, code);
        Assert.Equal("bivm fail: clip.mp4: no such file", err.Trim());
    }

    [Fact]
    public void Any_other_exception_is_an_internal_error_with_its_type_and_exit_code_3()
    {
        // An ArgumentException used to be shown as the user's mistake; it is a defect.
        var (code, err) = RunThrowing(new ArgumentException("index out of range"));
        Assert.Equal(ExitCodes.InternalError, code);
        Assert.Contains("bivm fail: internal error: System.ArgumentException: index out of range", err);
        Assert.Contains("--verbose", err);
        Assert.DoesNotContain(" at ", err);
    }

    [Fact]
    public void Verbose_prints_the_stack_trace_of_an_internal_error()
    {
        var (code, err) = RunThrowing(new InvalidOperationException("broken invariant"), "--verbose");
        Assert.Equal(ExitCodes.InternalError, code);
        Assert.Contains("broken invariant", err);
        Assert.Contains($" at {typeof(ErrorPolicyTests).FullName}", err);   // the frame that threw
    }

    [Theory]
    [InlineData("matte", "in.mp4", "--frames", "0")]
    [InlineData("matte", "in.mp4", "--downsample", "1.5")]
    [InlineData("eval", "--model", "m.onnx", "--threads", "-1")]
    [InlineData("eval", "--model", "m.onnx", "--size", "64by48")]
    [InlineData("export", "--family", "bivm", "--out", "x.onnx")]
    [InlineData("flops", "--family", "rvm", "--mask-density", "2")]
    [InlineData("flops", "--family", "vgg")]
    [InlineData("bench", "--threads", "1")]
    [InlineData("bench", "--kernels", "--models")]
    [InlineData("bench", "--kernels", "--profile")]
    [InlineData("bench", "--models", "--kernel", "avx2")]
    [InlineData("bench", "--models", "--chart", "chart.png")]
    [InlineData("bench", "--models", "--dry", "--threads", "2")]
    [InlineData("bench", "--models", "--frames", "0")]
    [InlineData("bench", "--models", "--pipeline")]
    public void A_command_line_that_does_not_parse_is_a_usage_error_with_exit_code_2(params string[] args)
    {
        var (code, _, err) = CliRunner.Run(args);
        Assert.Equal(ExitCodes.UsageError, code);
        Assert.StartsWith("bivm: ", err);
        Assert.Contains("Usage:", err);
    }
}
