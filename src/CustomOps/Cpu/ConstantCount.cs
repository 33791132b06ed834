namespace BiVM.CustomOps.Cpu;

/// <summary>
/// A small count as a type argument, for loop bodies written once and compiled per count: in a generic method over a
/// struct of this interface the count is a constant, so the branches on it and the registers a smaller count does not
/// use compile away (the activation packer's steps a block, the guided filter's rows a group).
/// </summary>
internal interface IConstantCount
{
    static abstract int Count { get; }
}

internal struct CountOne : IConstantCount { public static int Count => 1; }
internal struct CountTwo : IConstantCount { public static int Count => 2; }
internal struct CountThree : IConstantCount { public static int Count => 3; }
internal struct CountFour : IConstantCount { public static int Count => 4; }
internal struct CountEight : IConstantCount { public static int Count => 8; }
