import { Controller, Get, Header, Redirect } from '@nestjs/common';
import { UI_CALLBACK_PATH, UI_HOME_PATH, UI_LOGIN_PATH, UI_SESSIONS_PATH } from '@bodhi/routes-app';
import { CALLBACK_PAGE, HOME_PAGE, LOGIN_PAGE, SESSIONS_PAGE } from './ui.pages.js';

const HTML = 'text/html; charset=utf-8';
// The pages carry no data of their own; never let a cache serve one user's view to another.
const NO_STORE = 'no-store';

@Controller()
export class UiController {
  @Get()
  @Redirect(UI_HOME_PATH, 302)
  root(): { url: string } {
    return { url: UI_HOME_PATH };
  }

  @Get(UI_LOGIN_PATH)
  @Header('Content-Type', HTML)
  @Header('Cache-Control', NO_STORE)
  login(): string {
    return LOGIN_PAGE;
  }

  @Get(UI_CALLBACK_PATH)
  @Header('Content-Type', HTML)
  @Header('Cache-Control', NO_STORE)
  callback(): string {
    return CALLBACK_PAGE;
  }

  @Get(UI_HOME_PATH)
  @Header('Content-Type', HTML)
  @Header('Cache-Control', NO_STORE)
  home(): string {
    return HOME_PAGE;
  }

  @Get(UI_SESSIONS_PATH)
  @Header('Content-Type', HTML)
  @Header('Cache-Control', NO_STORE)
  sessions(): string {
    return SESSIONS_PAGE;
  }
}
