namespace BiVM.Contracts;

/// <summary>
/// The caller's input is wrong: a missing or corrupt file, a model that is not a matting model, an invalid
/// configuration, an option that contradicts another. Raised at validation boundaries, with a message that names the
/// input and says what is wrong with it; the <c>bivm</c> tool prints that message as one line. Every other exception
/// is a defect (or an environment failure) and is reported as an internal error.
/// </summary>
public sealed class UserInputException : Exception
{
    public UserInputException(string message) : base(message) { }

    public UserInputException(string message, Exception inner) : base(message, inner) { }
}
