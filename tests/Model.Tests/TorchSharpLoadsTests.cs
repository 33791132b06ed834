using TorchSharp;
using static TorchSharp.torch;

namespace BiVM.Model.Tests;

/// <summary>The install step's libstdc++ fix works: LibTorch loads and autograd runs.</summary>
public class TorchSharpLoadsTests
{
    [Fact]
    public void Forward_and_backward_run_on_the_cpu()
    {
        using var scope = NewDisposeScope();
        var w = tensor(new float[] { 1f, -2f, 3f }).requires_grad_();
        var loss = (w * w).sum();
        loss.backward();
        Assert.Equal(new float[] { 2f, -4f, 6f }, w.grad!.data<float>().ToArray());
    }
}
