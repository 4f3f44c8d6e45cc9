"""Background work run by `fidelis jobs run`: settling what time has made due."""
