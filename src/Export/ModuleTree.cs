using TorchSharp;
using static TorchSharp.torch;

namespace BiVM.Export;

/// <summary>
/// Reads a module's children and parameters by their registered names (the checkpoint keys), so the exporter
/// can walk src/Model's networks without those classes exposing every private field.
/// </summary>
internal static class ModuleTree
{
    public static nn.Module Child(nn.Module module, string name) =>
        module.named_children().FirstOrDefault(c => c.name == name).module
        ?? throw new InvalidOperationException($"{module.GetName()} has no child '{name}' (children: {string.Join(", ", module.named_children().Select(c => c.name))})");

    public static T Child<T>(nn.Module module, string name) where T : nn.Module =>
        Child(module, name) as T ?? throw new InvalidOperationException($"{module.GetName()}.{name} is {Child(module, name).GetType().Name}, expected {typeof(T).Name}");

    public static Tensor Parameter(nn.Module module, string name) =>
        module.named_parameters(recurse: false).FirstOrDefault(p => p.name == name).parameter
        ?? throw new InvalidOperationException($"{module.GetName()} has no parameter '{name}'");
}
