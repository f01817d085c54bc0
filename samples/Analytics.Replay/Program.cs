using Analytics.Replay;

return ReplayCommand.Run(args, Console.Out, Console.Error);
